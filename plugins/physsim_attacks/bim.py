"""Basic iterative method and iterative least-likely class method
(Kurakin, Goodfellow & Bengio 2016, arXiv:1607.02533).

The iterative targeted and least-likely variants are the same loop under another goal: run
``bim`` with ``Goal(mode="targeted")`` or ``Goal(mode="least_likely")``. ``iterative_ll`` is
registered as a convenience that always attacks towards the least-likely class.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.errors import UserError
from physsim.perturbation import steepest_direction
from physsim_attacks._common import (
    GradientOptions,
    KernelAttack,
    counts,
    finish,
    goal_loss,
    iterate,
    require_finite_eps,
)


class BIMOptions(GradientOptions):
    """Options of ``bim`` and ``iterative_ll``.

    Attributes:
        schedule: "budget" takes steps and step size from the budget (step size defaulting to
            :attr:`Budget.alpha`); "kurakin" uses the paper's alpha = 1/255 (unless the budget
            sets a step size) and ``steps = min(255 eps + 4, 1.25 * 255 eps)``.
    """

    schedule: Literal["budget", "kurakin"] = "budget"


def kurakin_steps(eps: float) -> int:
    """Kurakin et al.'s number of iterations, ``min(255 eps + 4, 1.25 * 255 eps)``, at least 1."""
    e = eps * 255
    return max(1, math.ceil(min(e + 4, 1.25 * e)))


def bim(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
        mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
        callback: Callback | None = None, early_stop: bool = False,
        loss: str = "ce", kappa: float = 0.0,
        schedule: str = "budget") -> AttackResult:
    """Iterated FGSM clipped to the eps ball and to [0, 1] after every step (Kurakin et al. 2016).

    ``x_{t+1} = clip_{x0, eps}(x_t - alpha * sign(grad L(x_t)))`` from ``x_0 = x0`` (no random
    start), L averaged over the EOT samples. Targeted and least-likely goals descend the
    cross-entropy of the target class.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal.
        budget: "linf" (the paper) or "l2" (normalised-gradient steps), finite eps.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(step, x (B, ...), loss (B,))`` after each step; True stops.
        early_stop: freeze each input once its evaluation meets the goal.
        loss: "ce" or "margin".
        kappa: margin confidence.
        schedule: "budget" or "kurakin" (see :class:`BIMOptions`).

    Returns:
        :class:`AttackResult`; ``extras["steps"]`` is the number of iterations scheduled.
    """
    require_finite_eps(budget, "bim")
    if schedule == "kurakin":
        steps = kurakin_steps(budget.eps)
        alpha = budget.step_size if budget.step_size is not None else 1 / 255
    else:
        steps, alpha = budget.steps, budget.alpha
    start = counts(objective)

    def update(delta: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return delta - alpha * steepest_direction(grad, budget.norm)

    delta, history, _ = iterate(objective, x0, goal, budget, torch.zeros_like(x0), update,
                             loss=goal_loss(loss, kappa), mask=mask, callback=callback,
                             early_stop=early_stop, steps=steps)
    return finish(objective, x0, x0 + delta, goal, start, history, {"steps": float(steps)})


class BIM(KernelAttack):
    """Basic iterative method (Kurakin et al. 2016, arXiv:1607.02533); any goal mode."""

    name = "bim"
    norms = ("linf", "l2")
    Options = BIMOptions
    kernel = staticmethod(bim)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return kurakin_steps(budget.eps) if opts.schedule == "kurakin" else budget.steps


class IterativeLL(BIM):
    """Iterative least-likely class method (Kurakin et al. 2016, arXiv:1607.02533).

    ``bim`` towards the class the clean input finds least likely: an untargeted goal is turned
    into a least-likely one; a targeted goal is refused (use ``bim`` for that).
    """

    name = "iterative_ll"
    modes = ("untargeted", "least_likely")

    def run(self, objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
            **kwargs: Any) -> AttackResult:
        if goal.mode == "targeted":
            raise UserError("mode 'targeted' is not supported: it picks the least-likely class "
                            "itself; use 'bim' for a chosen target", f"attack {self.name!r}")
        if goal.mode == "untargeted":
            goal = Goal("least_likely", goal.labels)
        return super().run(objective, x0, goal, budget, **kwargs)
