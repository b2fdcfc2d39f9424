"""Every built-in attack keeps the :class:`physsim.testing.AttackContract`."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from physsim_attacks import (
    BIM,
    FGSM,
    LBFGS,
    MIFGSM,
    PGD,
    CarliniWagnerL2,
    DeepFool,
    GoalVector,
    IterativeLL,
    OnePixel,
    Square,
    Substitute,
    Universal,
)

from physsim.attack import Budget
from physsim.plugins import entries
from physsim.testing import AttackContract


class TestFGSM(AttackContract):
    attack_class = FGSM


class TestFGSML2(AttackContract):
    attack_class = FGSM
    budget = Budget("l2", 0.5, 1)


class TestBIM(AttackContract):
    attack_class = BIM


class TestBIMKurakin(AttackContract):
    attack_class = BIM
    options: ClassVar[dict[str, Any]] = {"schedule": "kurakin"}
    budget = Budget("linf", 4 / 255, 10)


class TestIterativeLL(AttackContract):
    attack_class = IterativeLL


class TestPGD(AttackContract):
    attack_class = PGD
    options: ClassVar[dict[str, Any]] = {"restarts": 2}


class TestPGDL2(AttackContract):
    attack_class = PGD
    budget = Budget("l2", 0.5, 5)
    mode = "targeted"


class TestMIFGSM(AttackContract):
    attack_class = MIFGSM
    options: ClassVar[dict[str, Any]] = {"loss": "margin"}


class TestCW(AttackContract):
    attack_class = CarliniWagnerL2
    options: ClassVar[dict[str, Any]] = {"binary_search_steps": 3}
    budget = Budget("l2", 0.3, 10)


class TestDeepFool(AttackContract):
    attack_class = DeepFool
    budget = Budget("l2", 0.3, 10)


class TestDeepFoolLinfTargeted(AttackContract):
    attack_class = DeepFool
    budget = Budget("linf", 0.05, 10)
    mode = "targeted"


class TestLBFGS(AttackContract):
    attack_class = LBFGS
    options: ClassVar[dict[str, Any]] = {"search_steps": 3}
    budget = Budget("l2", 0.5, 5)
    mode = "targeted"


class TestGoalVector(AttackContract):
    attack_class = GoalVector
    mode = "targeted"


class TestOnePixel(AttackContract):
    attack_class = OnePixel
    options: ClassVar[dict[str, Any]] = {"population": 12}
    budget = Budget("l0", 2, 4)


class TestUniversal(AttackContract):
    attack_class = Universal
    budget = Budget("linf", 0.05, 2)


class TestSubstitute(AttackContract):
    attack_class = Substitute
    options: ClassVar[dict[str, Any]] = {"rounds": 1, "epochs": 2, "architecture": "mlp",
                                         "hidden": 16}


class TestSubstituteCNN(AttackContract):
    attack_class = Substitute
    options: ClassVar[dict[str, Any]] = {"rounds": 1, "epochs": 1, "transfer": "pgd"}
    budget = Budget("l2", 0.5, 3)


class TestSquare(AttackContract):
    attack_class = Square
    budget = Budget("linf", 0.05, 20)


class TestSquareL2(AttackContract):
    attack_class = Square
    budget = Budget("l2", 0.5, 20)
    mode = "targeted"


def test_every_builtin_attack_has_a_contract_test() -> None:
    ours = {e.obj for e in entries("attack") if e.plugin == "physsim_attacks"}
    tested = {cls.attack_class for cls in vars(sys.modules[__name__]).values()
              if isinstance(cls, type) and issubclass(cls, AttackContract)
              and cls is not AttackContract}
    assert ours, "physsim_attacks registered nothing"
    assert ours <= tested, sorted(a.name for a in ours - tested)
