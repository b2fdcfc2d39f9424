"""Square attack, score-based black-box random search (Andriushchenko, Croce, Flammarion &
Hein 2020, arXiv:1912.00049), L-inf and L2."""

from __future__ import annotations

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.errors import UserError
from physsim.options import Options
from physsim.perturbation import apply_mask
from physsim_attacks._common import (
    KernelAttack,
    counts,
    finish,
    mask_rows,
    mean_log_probs,
    predict_batched,
    require_finite_eps,
    score_margin,
    select_goal,
)
from physsim_attacks._squares import bounds, inside, l2_init, l2_step, signs, window

#: iterations (out of 10,000) after which the paper halves the square's area fraction
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


class SquareOptions(Options):
    """Options of ``square``.

    Attributes:
        p_init: initial fraction of the image a square covers (0.05 in the paper's ImageNet
            runs), halved on the paper's schedule rescaled to ``budget.steps``.
        batch_size: inputs per ``predict`` call (None: all at once).
    """

    p_init: float = Field(0.05, gt=0.0, le=1.0)
    batch_size: int | None = Field(None, ge=1)


def square_fraction(p_init: float, it: int, steps: int) -> float:
    """The paper's piecewise-constant schedule of the square's area fraction."""
    i = int(it / steps * 10000)
    return p_init / 2 ** sum(i > t for t in _HALVINGS)


def _linf_init(x0: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    """Vertical stripes of +-eps, one sign per column and channel (the paper's L-inf init)."""
    b, c, _, w = x0.shape
    return eps * signs((b, c, 1, w), gen, x0).expand_as(x0).clone()


def _linf_step(delta: torch.Tensor, win: torch.Tensor, eps: float,
               gen: torch.Generator) -> torch.Tensor:
    """Set every channel of the window to a fresh +-eps."""
    n, c = delta.shape[:2]
    return torch.where(inside(win, delta.shape), eps * signs((n, c, 1, 1), gen, delta), delta)


def square(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
           mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
           callback: Callback | None = None, early_stop: bool = False,
           p_init: float = 0.05, batch_size: int | None = None) -> AttackResult:
    """Random search with square-shaped updates (Andriushchenko et al. 2020).

    L-inf: starts from vertical stripes of +-eps; each iteration proposes, per input, a
    square window (area fraction from the paper's schedule) whose channels are set to fresh
    +-eps. L2: starts from a grid of centre-weighted squares scaled to norm eps; each
    iteration moves the mass of two random windows into a new centre-weighted pattern in the
    first one (with the unused budget) and rescales to norm eps. A proposal is kept when the
    score loss falls: the margin of the true class over the best other (untargeted) or the
    target's cross-entropy (targeted), from the softmax averaged over the EOT samples. Only
    ``objective.predict`` is used; the objective counts the queries (one per input and EOT
    sample). Windows are drawn inside the mask's bounding box.

    Shape:
        - x0: (B, C, H, W), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; only ``predict`` is called.
        x0: (B, C, H, W) clean images in [0, 1].
        goal: resolved goal; any mode.
        budget: norm "linf" or "l2", finite eps; steps = iterations (one query per input).
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: drives the initialisation, windows and signs.
        callback: ``callback(step, x (B, ...), loss (B,))`` after each iteration; True stops.
        early_stop: stop querying an input once it meets the goal (as in the paper).
        p_init: see :class:`SquareOptions`.
        batch_size: see :class:`SquareOptions`.

    Returns:
        :class:`AttackResult`; ``queries`` is what the attack was charged.
    """
    require_finite_eps(budget, "square")
    if x0.ndim != 4:
        raise UserError(f"needs images (B, C, H, W), got shape {tuple(x0.shape)}",
                        "attack 'square'")
    gen = generator or torch.Generator(device=x0.device).manual_seed(0)
    start = counts(objective)
    eps, b = budget.eps, x0.shape[0]
    box = bounds(x0, mask)
    l2 = budget.norm == "l2"
    delta = l2_init(x0, eps, box, gen, mask) if l2 else _linf_init(x0, eps, gen)

    def evaluate(rows: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x0[rows] + apply_mask(d, mask_rows(mask, rows))).clamp(0, 1)
        logits = predict_batched(objective, x, batch_size)
        return score_margin(select_goal(goal, rows), mean_log_probs(logits)), logits

    loss, logits = evaluate(torch.arange(b, device=x0.device), delta)
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    history: list[float] = []
    for step in range(budget.steps):
        if early_stop:
            active &= ~goal.success(logits)
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        p = square_fraction(p_init, step, budget.steps)
        win = window(box[idx], p, gen, x0)
        if l2:
            new = l2_step(delta[idx], win, window(box[idx], p, gen, x0), eps, gen,
                           mask_rows(mask, idx))
        else:
            new = _linf_step(delta[idx], win, eps, gen)
        cand_loss, cand_logits = evaluate(idx, new)
        better = cand_loss < loss[idx]
        delta[idx] = torch.where(better.view(-1, 1, 1, 1), new, delta[idx])
        loss[idx] = torch.where(better, cand_loss, loss[idx])
        logits[idx] = torch.where(better.view(-1, 1, 1), cand_logits, logits[idx])
        history.append(float(loss.mean()))
        if callback is not None and callback(step, (x0 + apply_mask(delta, mask)).clamp(0, 1),
                                             loss.clone()):
            break
    x_adv = (x0 + apply_mask(delta, mask)).clamp(0, 1)
    return finish(objective, x0, x_adv, goal, start, history)


class Square(KernelAttack):
    """Square attack (Andriushchenko et al. 2020, arXiv:1912.00049): score-based, L-inf and
    L2."""

    name = "square"
    norms = ("linf", "l2")
    black_box = True
    Options = SquareOptions
    kernel = staticmethod(square)
