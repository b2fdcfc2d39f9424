"""The adversarial patch attack: contract and a targeted toy optimum."""

from __future__ import annotations

from typing import ClassVar

from physsim_physical.patch import AdversarialPatch

from physsim.attack import Budget, Goal
from physsim.objective import ClassifierObjective
from physsim.testing import AttackContract, linear_toy_classifier, toy_images


class TestPatchContract(AttackContract):
    attack_class = AdversarialPatch
    budget = Budget(norm="linf", eps=1.0, steps=5)
    mode = "targeted"


class TestPatchFromGreyContract(AttackContract):
    attack_class = AdversarialPatch
    options: ClassVar[dict] = {"init": 0.5}
    budget = Budget(norm="linf", eps=1.0, steps=3)


def test_patch_reaches_target_on_toy_model() -> None:
    model = linear_toy_classifier()
    x0 = toy_images(3)
    labels = model(x0).argmax(1)
    goal = Goal("targeted", labels, (labels + 2) % 3)
    result = AdversarialPatch({"lr": 0.2}).run(ClassifierObjective(model, 3), x0, goal,
                                               Budget("linf", 1.0, 60))
    assert result.success.all()
    # the loss (target cross-entropy) decreased
    assert result.loss_history[-1] < result.loss_history[0]
