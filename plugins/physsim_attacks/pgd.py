"""Projected gradient descent with random start (Madry et al. 2017, arXiv:1706.06083)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.perturbation import random_start as draw_start
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


class PGDOptions(GradientOptions):
    """Options of ``pgd``.

    Attributes:
        random_start: start each run uniformly in the eps ball (Madry et al.); False starts
            at x0 (then ``pgd`` is BIM with a different step size).
        restarts: independent runs; each input keeps its best (successful first, then lowest
            loss on a fresh evaluation).
    """

    random_start: bool = True
    restarts: int = Field(1, ge=1)


def pgd(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
        mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
        callback: Callback | None = None, early_stop: bool = False,
        loss: str = "ce", kappa: float = 0.0, random_start: bool = True,
        restarts: int = 1) -> AttackResult:
    """Projected steepest descent on the EOT-averaged loss from a random start (Madry et al.).

    ``delta <- Proj_{eps ball, [0,1], mask}(delta - alpha * d(grad))`` with ``d = sign`` for
    "linf" and ``grad / ||grad||_2`` for "l2"; ``alpha = budget.alpha`` (2.5 eps / steps by
    default). Any goal mode.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal.
        budget: "linf" or "l2", finite eps in [0, 1] image units, steps, step size.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: drives the random starts (seed 0 when None).
        callback: ``callback(step, x (B, ...), loss (B,))`` after each step (the step counter
            restarts with each restart); True stops the attack.
        early_stop: freeze each input once its evaluation meets the goal.
        loss: "ce" or "margin".
        kappa: margin confidence.
        random_start: start uniformly in the ball.
        restarts: independent runs, the best kept per input.

    Returns:
        :class:`AttackResult` with ``x_adv`` (B, ...) in [0, 1] within the budget.
    """
    require_finite_eps(budget, "pgd")
    if generator is None:
        generator = torch.Generator(device=x0.device).manual_seed(0)
    start = counts(objective)
    fn = goal_loss(loss, kappa)
    alpha = budget.alpha

    def update(delta: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return delta - alpha * steepest_direction(grad, budget.norm)

    best = x0.clone()
    best_ok = torch.zeros(x0.shape[0], dtype=torch.bool, device=x0.device)
    best_loss = torch.full((x0.shape[0],), float("inf"), dtype=x0.dtype, device=x0.device)
    history: list[float] = []
    for _ in range(restarts):
        delta0 = (draw_start(x0, budget.norm, budget.eps, generator, mask) if random_start
                  else torch.zeros_like(x0))
        delta, hist, stop = iterate(objective, x0, goal, budget, delta0, update, loss=fn,
                                    mask=mask, callback=callback, early_stop=early_stop)
        history += hist
        if restarts == 1:
            best = x0 + delta
            break
        logits = objective.predict(x0 + delta)
        ok, value = goal.success(logits), fn(goal, logits).mean(1)
        better = (ok & ~best_ok) | ((ok == best_ok) & (value < best_loss))
        best[better] = (x0 + delta)[better]
        best_ok |= ok
        best_loss = torch.where(better, value, best_loss)
        if stop:
            break
    return finish(objective, x0, best, goal, start, history)


class PGD(KernelAttack):
    """PGD with random start (Madry et al. 2017, arXiv:1706.06083) in L-inf and L2."""

    name = "pgd"
    norms = ("linf", "l2")
    Options = PGDOptions
    kernel = staticmethod(pgd)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return budget.steps * int(opts.restarts)
