"""Plumbing shared by the built-in attacks: the adapter base, goal slicing, counters, the
common iterative loop and the final evaluation that fills :class:`AttackResult`.

The maths (norms, projections, random starts) lives in :mod:`physsim.perturbation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.errors import UserError
from physsim.options import Options
from physsim.perturbation import feasible

#: ``loss(goal, logits (B, S, C)) -> (B, S)``: what an attack minimises.
GoalLoss = Callable[[Goal, torch.Tensor], torch.Tensor]
#: ``update(delta_rows, grad_rows, rows) -> new delta_rows`` (projected by the loop).
Update = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class GradientOptions(Options):
    """Options shared by the sign/gradient attacks.

    Attributes:
        loss: "ce" (cross-entropy, :meth:`Goal.loss`) or "margin" (the Carlini-Wagner margin,
            :meth:`Goal.margin`), averaged over the EOT samples.
        kappa: confidence of the margin loss (ignored for "ce").
    """

    loss: Literal["ce", "margin"] = "ce"
    kappa: float = Field(0.0, ge=0.0)


class KernelAttack(Attack):
    """An :class:`Attack` whose ``perturb`` calls the module's pure function with its options."""

    kernel: ClassVar[Callable[..., AttackResult]]

    def perturb(self, objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
                mask: torch.Tensor | None, generator: torch.Generator,
                callback: Callback | None, early_stop: bool) -> AttackResult:
        return type(self).kernel(objective, x0, goal, budget, mask=mask, generator=generator,
                                 callback=callback, early_stop=early_stop,
                                 **self.options.model_dump())


def goal_loss(kind: str, kappa: float = 0.0) -> GoalLoss:
    """The per-sample loss of ``kind`` ("ce" or "margin") as a function of (goal, logits)."""
    if kind == "margin":
        return lambda goal, logits: goal.margin(logits, kappa)
    return lambda goal, logits: goal.loss(logits)


def select_goal(goal: Goal, idx: torch.Tensor) -> Goal:
    """The goal restricted to the inputs ``idx`` (for attacks that stop finished inputs)."""
    targets = None if goal.targets is None else goal.targets[idx.to(goal.targets.device)]
    return Goal(goal.mode, goal.labels[idx.to(goal.labels.device)], targets)


def counts(objective: Objective) -> tuple[int, int, int]:
    """The objective's (forwards, backwards, queries) counters now."""
    return objective.forwards, objective.backwards, objective.queries


def require_finite_eps(budget: Budget, name: str) -> None:
    """Fixed-budget attacks step by a fraction of eps, so eps must be finite."""
    if math.isinf(budget.eps):
        raise UserError(f"eps must be finite for a fixed-budget attack, got {budget.eps}",
                        f"attack {name!r} budget.eps")


def mask_rows(mask: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else mask[rows]


def iterate(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
            delta: torch.Tensor, update: Update, *, loss: GoalLoss,
            mask: torch.Tensor | None, callback: Callback | None, early_stop: bool,
            steps: int | None = None) -> tuple[torch.Tensor, list[float], bool]:
    """The loop of every iterative gradient attack (BIM, PGD, MI-FGSM, ...).

    Each step evaluates the EOT-averaged loss and gradient at ``x0 + delta`` for the inputs
    still running, lets ``update`` move their perturbation, and makes it feasible again
    (mask, ``budget`` ball, [0, 1]). With ``early_stop`` an input whose evaluation meets the
    goal is frozen where it is and no longer sent to the objective.

    Returns:
        (the final perturbation (B, ...), the batch-mean loss after each step, whether the
        callback asked to stop).
    """
    delta = delta.clone()
    active = torch.ones(x0.shape[0], dtype=torch.bool, device=x0.device)
    last = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
    history: list[float] = []
    for step in range(budget.steps if steps is None else steps):
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        sub = select_goal(goal, idx)
        value, grad, logits = objective.value_and_grad(x0[idx] + delta[idx], partial(loss, sub))
        last[idx] = value
        move = torch.ones_like(idx, dtype=torch.bool)
        if early_stop:
            move = ~sub.success(logits)
            active[idx[~move]] = False
        rows = idx[move]
        if rows.numel():
            new = update(delta[rows], grad[move], rows)
            delta[rows] = feasible(new, x0[rows], budget.norm, budget.eps, mask_rows(mask, rows))
        history.append(float(last.mean()))
        if callback is not None and callback(step, x0 + delta, last.clone()):
            return delta, history, True
    return delta, history, False


def finish(objective: Objective, x0: torch.Tensor, x_adv: torch.Tensor, goal: Goal,
           start: tuple[int, int, int], history: list[float],
           extras: dict[str, float] | None = None) -> AttackResult:
    """Judge ``x_adv`` on one final objective evaluation and package the result.

    The counters are the objective's, minus ``start`` (what :func:`counts` returned when the
    attack began); the final evaluation is included.
    """
    x_adv = x_adv.detach().clamp(0.0, 1.0)
    success = goal.success(objective.predict(x_adv))
    f, b, q = counts(objective)
    return AttackResult(
        x_adv=x_adv, perturbation=x_adv - x0, success=success.to(torch.bool),
        loss_history=history, forwards=f - start[0], backwards=b - start[1],
        queries=q - start[2], extras=dict(extras or {}),
    )


def predict_batched(objective: Objective, x: torch.Tensor, batch: int | None) -> torch.Tensor:
    """``objective.predict`` over ``x`` in pieces of at most ``batch`` inputs: (N, S, C)."""
    if batch is None or x.shape[0] <= batch:
        return objective.predict(x)
    return torch.cat([objective.predict(part) for part in x.split(batch)])


def mean_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """(N, S, C) logits -> (N, C) log of the softmax averaged over the S EOT samples.

    Score-based attacks see the expected class probabilities under EOT, as a camera would on
    average.
    """
    return logits.softmax(-1).mean(1).clamp_min(1e-30).log()


def score_margin(goal: Goal, log_probs: torch.Tensor) -> torch.Tensor:
    """(N, C) scores -> (N,) to minimise: the margin of the goal class over the best other.

    Untargeted: ``s_y - max_{k != y} s_k`` (negative once fooled); targeted: the cross-entropy
    ``-s_t`` as Andriushchenko et al. (2020) use for targeted runs.
    """
    idx = goal.class_index().to(log_probs.device).view(-1, 1)
    own = log_probs.gather(1, idx).squeeze(1)
    if goal.targeted:
        return -own
    other = log_probs.scatter(1, idx, float("-inf")).amax(1)
    return own - other


def describe(**values: Any) -> dict[str, float]:
    """Extras as plain floats (what :class:`AttackResult.extras` holds)."""
    return {k: float(v) for k, v in values.items()}
