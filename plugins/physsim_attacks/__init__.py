"""The built-in attack catalogue: one algorithm per module, a pure function plus an adapter.

Each module exposes the algorithm as a function ``name(objective, x0, goal, budget, *, mask,
generator, callback, early_stop, **options) -> AttackResult`` and a thin
:class:`physsim.attack.Attack` subclass that this plugin registers under the attack's name.
Shared tensor helpers live in :mod:`physsim.perturbation`.
"""

from __future__ import annotations

from collections.abc import Callable

from physsim.attack import Attack
from physsim.hookspecs import hookimpl
from physsim_attacks.bim import BIM, IterativeLL
from physsim_attacks.cw import CarliniWagnerL2
from physsim_attacks.deepfool import DeepFool
from physsim_attacks.fgsm import FGSM
from physsim_attacks.goal_vector import GoalVector
from physsim_attacks.lbfgs import LBFGS
from physsim_attacks.mifgsm import MIFGSM
from physsim_attacks.one_pixel import OnePixel
from physsim_attacks.pgd import PGD
from physsim_attacks.square import Square
from physsim_attacks.substitute import Substitute
from physsim_attacks.universal import Universal

#: every attack this plugin registers, in catalogue order
ATTACKS: tuple[type[Attack], ...] = (
    FGSM, BIM, IterativeLL, PGD, MIFGSM, CarliniWagnerL2, DeepFool, LBFGS, GoalVector,
    OnePixel, Universal, Substitute, Square,
)


@hookimpl
def register_attacks(register: Callable[[type[Attack]], None]) -> None:
    for attack in ATTACKS:
        register(attack)
