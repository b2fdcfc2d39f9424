"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017,
arXiv:1610.08401)."""

from __future__ import annotations

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.options import Options
from physsim.perturbation import apply_mask, project
from physsim_attacks._common import (
    KernelAttack,
    counts,
    finish,
    mask_rows,
    require_finite_eps,
    select_goal,
)
from physsim_attacks.deepfool import deepfool_delta


class UniversalOptions(Options):
    """Options of ``universal``.

    Attributes:
        delta: stop once the fooling rate on the set reaches ``1 - delta`` (the paper's delta).
        deepfool_steps: DeepFool iterations per inner call.
        overshoot: DeepFool's overshoot.
        candidates: DeepFool's candidate classes.
        batch_size: images whose DeepFool steps are summed into one update; 1 is the paper's
            image-by-image pass, larger batches use the objective in bigger batches.
        shuffle: visit the images in a fresh random order on every pass (as the paper does).
    """

    delta: float = Field(0.2, ge=0.0, lt=1.0)
    deepfool_steps: int = Field(10, ge=1)
    overshoot: float = Field(0.02, ge=0.0)
    candidates: int = Field(10, ge=1)
    batch_size: int = Field(1, ge=1)
    shuffle: bool = True


def universal(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
              mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
              callback: Callback | None = None, early_stop: bool = False,
              delta: float = 0.2, deepfool_steps: int = 10, overshoot: float = 0.02,
              candidates: int = 10, batch_size: int = 1, shuffle: bool = True) -> AttackResult:
    """One perturbation v shared by the whole batch ``x0`` (Moosavi-Dezfooli et al. 2017).

    Passes over the set (at most ``budget.steps``): for each image (or group of
    ``batch_size`` images) that ``x0 + v`` does not yet fool, DeepFool finds the minimal
    extra perturbation, which is added to v, and v is projected onto the eps ball. Stops when
    the fooling rate reaches ``1 - delta``. Each image's result is ``clip(x0 + mask * v)``, so
    its perturbation is v up to the [0, 1] box and the mask; success is judged per image.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) the set of clean inputs in [0, 1].
        goal: resolved goal (untargeted in the paper; targeted uses targeted DeepFool).
        budget: "l2" or "linf", finite eps; steps = maximum passes over the set.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: drives the visiting order.
        callback: ``callback(pass, x (B, ...), margin (B,))`` after each pass; True stops.
        early_stop: ignored (the algorithm already skips fooled images).
        delta: see :class:`UniversalOptions`.
        deepfool_steps: see :class:`UniversalOptions`.
        overshoot: see :class:`UniversalOptions`.
        candidates: see :class:`UniversalOptions`.
        batch_size: see :class:`UniversalOptions`.
        shuffle: see :class:`UniversalOptions`.

    Returns:
        :class:`AttackResult`; ``extras["fooling_rate"]`` and ``extras["passes"]``.
    """
    require_finite_eps(budget, "universal")
    gen = generator or torch.Generator(device=x0.device).manual_seed(0)
    start = counts(objective)
    b = x0.shape[0]
    v = torch.zeros_like(x0[:1])
    history: list[float] = []
    rate, passes = 0.0, 0
    for passes in range(1, budget.steps + 1):
        order = (torch.randperm(b, generator=gen, device=gen.device).to(x0.device) if shuffle
                 else torch.arange(b, device=x0.device))
        for rows in order.split(batch_size):
            xs = (x0[rows] + apply_mask(v, mask_rows(mask, rows))).clamp(0, 1)
            dv, _ = deepfool_delta(objective, xs, select_goal(goal, rows), budget.norm,
                                   deepfool_steps, overshoot=overshoot, candidates=candidates,
                                   mask=mask_rows(mask, rows))
            v = project(v + dv.sum(0, keepdim=True), budget.norm, budget.eps)
        x_adv = (x0 + apply_mask(v, mask)).clamp(0, 1)
        logits = objective.predict(x_adv)
        margin = goal.margin(logits).mean(1)
        rate = float(goal.success(logits).float().mean())
        history.append(float(margin.mean()))
        if callback is not None and callback(passes - 1, x_adv, margin):
            break
        if rate >= 1 - delta:
            break
    x_adv = (x0 + apply_mask(v, mask)).clamp(0, 1)
    return finish(objective, x0, x_adv, goal, start, history,
                  {"fooling_rate": rate, "passes": float(passes)})


class Universal(KernelAttack):
    """Universal adversarial perturbation (Moosavi-Dezfooli et al. 2017, arXiv:1610.08401):
    one perturbation for the whole batch, DeepFool inner steps."""

    name = "universal"
    norms = ("l2", "linf")
    Options = UniversalOptions
    kernel = staticmethod(universal)
