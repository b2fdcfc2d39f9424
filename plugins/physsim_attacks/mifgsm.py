"""Momentum iterative FGSM (Dong et al. 2018, arXiv:1710.06081)."""

from __future__ import annotations

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.perturbation import lp_norm, steepest_direction
from physsim_attacks._common import (
    GradientOptions,
    KernelAttack,
    counts,
    finish,
    goal_loss,
    iterate,
    require_finite_eps,
)


class MIFGSMOptions(GradientOptions):
    """Options of ``mifgsm``.

    Attributes:
        decay: the momentum decay factor mu (1.0 in the paper).
    """

    decay: float = Field(1.0, ge=0.0)


def mifgsm(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
           mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
           callback: Callback | None = None, early_stop: bool = False,
           loss: str = "ce", kappa: float = 0.0, decay: float = 1.0) -> AttackResult:
    """Iterative FGSM with an accumulated, L1-normalised gradient (Dong et al. 2018).

    ``g <- mu g + grad / ||grad||_1``, ``x <- clip_{x0, eps}(x - alpha * d(g))`` with
    ``d = sign`` for "linf" and ``g / ||g||_2`` for "l2"; the step size defaults to the paper's
    ``alpha = eps / steps`` (``budget.step_size`` overrides it). Starts at x0. Any goal mode;
    the gradient is the EOT average, so momentum also smooths the EOT noise between steps.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal.
        budget: "linf" or "l2", finite eps, steps.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(step, x (B, ...), loss (B,))`` after each step; True stops.
        early_stop: freeze each input once its evaluation meets the goal.
        loss: "ce" or "margin".
        kappa: margin confidence.
        decay: momentum decay mu >= 0.

    Returns:
        :class:`AttackResult` with ``x_adv`` (B, ...) in [0, 1] within the budget.
    """
    require_finite_eps(budget, "mifgsm")
    start = counts(objective)
    alpha = budget.step_size if budget.step_size is not None else budget.eps / budget.steps
    momentum = torch.zeros_like(x0)
    view = (-1,) + (1,) * (x0.ndim - 1)

    def update(delta: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        scaled = grad / lp_norm(grad, "l1").clamp(min=1e-12).view(view)
        momentum[rows] = decay * momentum[rows] + scaled
        return delta - alpha * steepest_direction(momentum[rows], budget.norm)

    delta, history, _ = iterate(objective, x0, goal, budget, torch.zeros_like(x0), update,
                             loss=goal_loss(loss, kappa), mask=mask, callback=callback,
                             early_stop=early_stop)
    return finish(objective, x0, x0 + delta, goal, start, history)


class MIFGSM(KernelAttack):
    """MI-FGSM (Dong et al. 2018, arXiv:1710.06081) in L-inf and L2."""

    name = "mifgsm"
    norms = ("linf", "l2")
    Options = MIFGSMOptions
    kernel = staticmethod(mifgsm)
