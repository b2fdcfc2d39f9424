"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016, arXiv:1511.04599), L2 and L-inf."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Norm, Objective
from physsim.options import Options
from physsim.perturbation import apply_mask, feasible, lp_norm, steepest_direction
from physsim_attacks._common import KernelAttack, counts, finish, mask_rows, select_goal


class DeepFoolOptions(Options):
    """Options of ``deepfool``.

    Attributes:
        overshoot: the final step is ``(1 + overshoot)`` times the accumulated one (0.02 in
            the paper) so the input lands past the boundary, not on it.
        candidates: the classes linearised per step: the top ``candidates`` of the clean
            prediction besides the true class (the reference code's 10); targeted runs use the
            top classes besides the target.
    """

    overshoot: float = Field(0.02, ge=0.0)
    candidates: int = Field(10, ge=1)


def _candidates(objective: Objective, x0: torch.Tensor, goal: Goal, k: int) -> torch.Tensor:
    """(B, k') the classes each input is linearised against, from the clean EOT-mean logits."""
    scores = objective.predict(x0).mean(1)
    own = goal.class_index().to(x0.device)
    scores = scores.scatter(1, own.view(-1, 1), float("-inf"))
    return scores.topk(min(k, scores.shape[1] - 1), dim=1).indices


def _pairs_gain(a: torch.Tensor, c: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """loss_fn: (N, S, C) logits -> (N, S) ``Z_a - Z_c`` with one (a, c) pair per row."""

    def gain(logits: torch.Tensor) -> torch.Tensor:
        s = logits.shape[1]
        za = logits.gather(2, a.view(-1, 1, 1).expand(-1, s, 1))
        zc = logits.gather(2, c.view(-1, 1, 1).expand(-1, s, 1))
        return (za - zc).squeeze(2)

    return gain


def _linearised_step(g: torch.Tensor, w: torch.Tensor, norm: Norm,
                     targeted: bool) -> torch.Tensor:
    """The step onto the closest (untargeted) / most violated (targeted) linearised boundary.

    Args:
        g: (n, k) gains ``f_a - f_b`` (negative until the goal is met).
        w: (n, k, ...) their gradients, masked.

    Returns:
        (n, ...) ``(|g| + 1e-4) / ||w||_q * d(w)`` for the chosen pair.
    """
    n, k = g.shape
    dual: Norm = "l2" if norm == "l2" else "l1"
    wn = lp_norm(w.flatten(0, 1), dual).view(n, k).clamp(min=1e-12)
    dist = -g / wn
    pick = (dist.argmax(1) if targeted else dist.argmin(1)).view(n, 1)
    w_pick = w[torch.arange(n, device=w.device), pick.squeeze(1)]
    size = (g.gather(1, pick).abs() + 1e-4) / wn.gather(1, pick)
    return steepest_direction(w_pick, norm) * size.view(-1, *([1] * (w.ndim - 2)))


def deepfool_delta(objective: Objective, x0: torch.Tensor, goal: Goal, norm: Norm, steps: int,
                   *, overshoot: float = 0.02, candidates: int = 10,
                   mask: torch.Tensor | None = None, callback: Callback | None = None,
                   ) -> tuple[torch.Tensor, list[float]]:
    """The DeepFool perturbation of every input, batched; what ``deepfool`` and ``universal``
    call.

    Each step linearises ``g = f_a - f_b`` around the current point for every candidate pair
    (untargeted: a = candidate, b = true class; targeted: a = target, b = candidate) and moves
    onto the closest (untargeted) or most violated (targeted) linearised boundary:
    ``r = (|g| + 1e-4) / ||w||_q * d(w)`` with ``w = grad g``, ``q`` the dual norm (2 for L2,
    1 for L-inf) and ``d`` the steepest direction. All candidates of all inputs go through the
    objective as one batch, so every gradient of one step shares its EOT samples. Inputs stop
    as soon as their current point meets the goal.

    Returns:
        ((B, ...) perturbation ``(1 + overshoot) * r_total``, masked and kept in [0, 1] but not
        projected on any ball; batch-mean goal margin after each step).
    """
    b = x0.shape[0]
    cand = _candidates(objective, x0, goal, candidates)
    k = cand.shape[1]
    own = goal.class_index().to(x0.device)
    r_total = torch.zeros_like(x0)
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    margin = torch.zeros(b, dtype=x0.dtype, device=x0.device)
    history: list[float] = []

    def point(rows: torch.Tensor) -> torch.Tensor:
        d = apply_mask((1 + overshoot) * r_total[rows], mask_rows(mask, rows))
        return (x0[rows] + d).clamp(0, 1)

    for step in range(steps):
        rows = active.nonzero().squeeze(1)
        if rows.numel() == 0:
            break
        n = rows.numel()
        a = own[rows].repeat_interleave(k) if goal.targeted else cand[rows].reshape(-1)
        c = cand[rows].reshape(-1) if goal.targeted else own[rows].repeat_interleave(k)
        g, w, logits = objective.value_and_grad(point(rows).repeat_interleave(k, 0),
                                                _pairs_gain(a, c))
        sub = select_goal(goal, rows)
        first = logits.view(n, k, *logits.shape[1:])[:, 0]  # the k copies share EOT samples
        done = sub.success(first)
        margin[rows] = sub.margin(first).mean(1)
        active[rows[done]] = False
        row_mask = None if mask is None else mask[rows].unsqueeze(1)
        w = apply_mask(w.view(n, k, *x0.shape[1:]), row_mask)
        r_total[rows[~done]] += _linearised_step(g.view(n, k), w, norm, goal.targeted)[~done]
        history.append(float(margin.mean()))
        everyone = torch.arange(b, device=x0.device)
        if callback is not None and callback(step, point(everyone), margin.clone()):
            break
    delta = apply_mask((1 + overshoot) * r_total, mask)
    return (x0 + delta).clamp(0, 1) - x0, history


def deepfool(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
             mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
             callback: Callback | None = None, early_stop: bool = False,
             overshoot: float = 0.02, candidates: int = 10) -> AttackResult:
    """Minimal-norm DeepFool (Moosavi-Dezfooli et al. 2016), batched over inputs and classes.

    Iterates :func:`deepfool_delta` for up to ``budget.steps`` steps per input (the paper
    uses 50); each input stops as soon as it is adversarial, so ``early_stop`` is implied. The
    result is projected onto the eps ball when eps is finite (the minimal perturbation is
    shortened, and may then fail); ``eps = inf`` leaves it unbounded.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal; untargeted, targeted or least-likely.
        budget: norm "l2" or "linf"; eps caps the result (``inf`` for none); steps.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(step, x (B, ...), margin (B,))`` after each step; True stops.
        early_stop: ignored (DeepFool always stops at the boundary).
        overshoot: see :class:`DeepFoolOptions`.
        candidates: see :class:`DeepFoolOptions`.

    Returns:
        :class:`AttackResult`; ``loss_history`` is the mean goal margin (negative = fooled).
    """
    start = counts(objective)
    delta, history = deepfool_delta(objective, x0, goal, budget.norm, budget.steps,
                                    overshoot=overshoot, candidates=candidates, mask=mask,
                                    callback=callback)
    delta = feasible(delta, x0, budget.norm, budget.eps, mask)
    return finish(objective, x0, x0 + delta, goal, start, history)


class DeepFool(KernelAttack):
    """DeepFool (Moosavi-Dezfooli et al. 2016, arXiv:1511.04599), minimal L2 / L-inf norm."""

    name = "deepfool"
    norms = ("l2", "linf")
    Options = DeepFoolOptions
    kernel = staticmethod(deepfool)
