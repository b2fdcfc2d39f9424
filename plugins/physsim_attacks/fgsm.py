"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2014, arXiv:1412.6572)."""

from __future__ import annotations

import torch

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.perturbation import feasible, steepest_direction
from physsim_attacks._common import (
    GradientOptions,
    KernelAttack,
    counts,
    finish,
    goal_loss,
    require_finite_eps,
)


def fgsm(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
         mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
         callback: Callback | None = None, early_stop: bool = False,
         loss: str = "ce", kappa: float = 0.0) -> AttackResult:
    """One step of size eps along the steepest descent of the loss (Goodfellow et al. 2014).

    ``x_adv = clip(x0 - eps * sign(grad L))`` for "linf" and ``x0 - eps * grad / ||grad||_2``
    for "l2" (the fast gradient method), where L is the goal's loss averaged over the EOT
    samples; untargeted L is the negative cross-entropy of the true class, so descending it
    ascends the classic FGSM loss. ``budget.steps`` and ``budget.step_size`` are ignored.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal (least-likely already has its targets).
        budget: norm "linf" or "l2", finite eps in [0, 1] image units.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (FGSM is deterministic); accepted for a uniform signature.
        callback: called once, after the step.
        early_stop: unused (a single step).
        loss: "ce" or "margin".
        kappa: margin confidence.

    Returns:
        :class:`AttackResult` with ``x_adv`` (B, ...) in [0, 1], ``||x_adv - x0|| <= eps``.
    """
    require_finite_eps(budget, "fgsm")
    start = counts(objective)
    fn = goal_loss(loss, kappa)
    value, grad, _ = objective.value_and_grad(x0, lambda logits: fn(goal, logits))
    step = -budget.eps * steepest_direction(grad, budget.norm)
    delta = feasible(step, x0, budget.norm, budget.eps, mask)
    if callback is not None:
        callback(0, x0 + delta, value)
    return finish(objective, x0, x0 + delta, goal, start, [float(value.mean())])


class FGSM(KernelAttack):
    """FGSM (Goodfellow et al. 2014, arXiv:1412.6572) in L-inf, with the L2 fast gradient
    method as its "l2" variant."""

    name = "fgsm"
    norms = ("linf", "l2")
    Options = GradientOptions
    kernel = staticmethod(fgsm)


    def total_steps(self, budget: Budget) -> int:
        return 1
