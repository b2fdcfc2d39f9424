"""One-pixel attack by differential evolution (Su, Vargas & Sakurai 2019, arXiv:1710.08864)."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.errors import UserError
from physsim.options import Options
from physsim.perturbation import rand, randn
from physsim_attacks._common import (
    KernelAttack,
    counts,
    finish,
    mean_log_probs,
    predict_batched,
    select_goal,
)


class OnePixelOptions(Options):
    """Options of ``one_pixel``.

    Attributes:
        population: candidate solutions per image (400 in the paper).
        generations: DE iterations; None takes ``budget.steps`` (the paper uses 100).
        mutation: the DE scale factor F (0.5 in the paper).
        batch_size: inputs per ``predict`` call (None: a whole generation at once).
    """

    population: int = Field(400, ge=4)
    generations: int | None = Field(None, ge=1)
    mutation: float = Field(0.5, gt=0.0, le=2.0)
    batch_size: int | None = Field(None, ge=1)


class _Pixels:
    """Decodes candidates (position u in [0, 1), colour per channel) into images."""

    def __init__(self, x0: torch.Tensor, mask: torch.Tensor | None) -> None:
        self.x0, self.mask = x0, mask
        b, _, h, w = x0.shape
        allowed = (torch.ones(b, h * w, dtype=torch.bool, device=x0.device) if mask is None
                   else mask.amax(1).flatten(1) > 0)
        self.count = allowed.sum(1)
        # allowed positions first, in raster order: u indexes into this list
        self.order = (~allowed).to(torch.uint8).argsort(dim=1, stable=True)

    def render(self, rows: torch.Tensor, u: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """u (n, P, k), colour (n, P, k, C) for images ``rows`` -> (n * P, C, H, W)."""
        n, p, k = u.shape
        x0 = self.x0[rows]
        c, hw = x0.shape[1], x0.shape[2] * x0.shape[3]
        count = self.count[rows].view(n, 1, 1)
        slot = (u * count).long().clamp(max=count - 1).clamp(min=0)
        pos = self.order[rows].gather(1, slot.view(n, p * k)).view(n, p, 1, k)
        out = x0.flatten(2).unsqueeze(1).expand(n, p, c, hw).clone()
        out.scatter_(3, pos.expand(n, p, c, k), colour.permute(0, 1, 3, 2))
        out = out.view(n, p, *x0.shape[1:])
        if self.mask is not None:
            m = self.mask[rows].unsqueeze(1)
            out = x0.unsqueeze(1) + m * (out - x0.unsqueeze(1))
        return out.flatten(0, 1)


def _fitness(objective: Objective, goal: Goal, images: torch.Tensor, p: int,
             batch: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower is better: the EOT-mean probability of the true class (untargeted) or minus that
    of the target. Returns ((n, P) fitness, (n, P, S, C) logits)."""
    logits = predict_batched(objective, images, batch)
    probs = mean_log_probs(logits).exp().view(-1, p, logits.shape[-1])
    own = probs.gather(2, goal.class_index().to(probs.device).view(-1, 1, 1).expand(-1, p, 1))
    fit = -own.squeeze(2) if goal.targeted else own.squeeze(2)
    return fit, logits.view(-1, p, *logits.shape[1:])


def _distinct_three(n: int, p: int, generator: torch.Generator,
                    like: torch.Tensor) -> torch.Tensor:
    """(n, P, 3) indices, distinct from each other and from their own member."""
    keys = rand((n, p, p), generator, like=like)
    keys.diagonal(dim1=1, dim2=2).fill_(2.0)
    return keys.argsort(2)[..., :3].contiguous()


def _mutate(pop: torch.Tensor, r: torch.Tensor, f: float) -> torch.Tensor:
    """DE/rand/1: ``a + F (b - c)`` for members (a, b, c) = ``r``; pop (n, P, ...)."""
    n, p = r.shape[:2]
    idx = r.reshape(n, p * 3, *([1] * (pop.ndim - 2))).expand(n, p * 3, *pop.shape[2:])
    a, b, c = pop.gather(1, idx).view(n, p, 3, *pop.shape[2:]).unbind(2)
    return a + f * (b - c)


def one_pixel(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
              mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
              callback: Callback | None = None, early_stop: bool = False,
              population: int = 400, generations: int | None = None, mutation: float = 0.5,
              batch_size: int | None = None) -> AttackResult:
    """Black-box L0 attack: differential evolution over k = floor(eps) pixels (Su et al. 2019).

    A candidate is k (position, colour) pairs; DE/rand/1 without crossover evolves
    ``population`` candidates per image for ``generations`` generations, each child replacing
    its parent when it lowers the fitness. Only ``objective.predict`` is used (scores are the
    softmax averaged over the EOT samples); every image sent counts as S queries in the
    objective. Positions are drawn among the pixels the mask allows.

    Shape:
        - x0: (B, C, H, W), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; only ``predict`` is called.
        x0: (B, C, H, W) clean images in [0, 1].
        goal: resolved goal; any mode.
        budget: norm "l0"; eps = number of pixels (>= 1); steps = generations by default.
        mask: broadcastable to ``x0``; pixels where it is 0 in every channel are never chosen.
        generator: drives the population and the mutations.
        callback: ``callback(generation, x_best (B, ...), fitness (B,))``; True stops.
        early_stop: stop evolving an image once its best candidate meets the goal.
        population: see :class:`OnePixelOptions`.
        generations: see :class:`OnePixelOptions`.
        mutation: see :class:`OnePixelOptions`.
        batch_size: see :class:`OnePixelOptions`.

    Returns:
        :class:`AttackResult` with at most k changed pixels per image; ``queries`` counted.
    """
    k = _pixels_from_eps(budget, x0)
    gen = generator or torch.Generator(device=x0.device).manual_seed(0)
    start = counts(objective)
    b, c = x0.shape[:2]
    pix = _Pixels(x0, mask)
    u = rand((b, population, k), gen, like=x0)
    # the paper draws colours from N(128, 127) on 0..255: N(0.5, 0.5) clipped here
    colour = (0.5 + 0.5 * randn((b, population, k, c), gen, like=x0)).clamp(0, 1)
    rows = torch.arange(b, device=x0.device)
    fit, logits = _fitness(objective, goal, pix.render(rows, u, colour), population, batch_size)
    active = torch.ones(b, dtype=torch.bool, device=x0.device)
    history: list[float] = []
    for step in range(generations or budget.steps):
        best = fit.argmin(1)
        if early_stop:
            won = goal.success(logits[rows, best])
            active &= ~won
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        r = _distinct_three(idx.numel(), population, gen, x0)
        child_u = _mutate(u[idx], r, mutation) % 1.0  # positions wrap around
        child_c = _mutate(colour[idx], r, mutation).clamp(0, 1)
        child_fit, child_logits = _fitness(objective, select_goal(goal, idx),
                                           pix.render(idx, child_u, child_c), population,
                                           batch_size)
        better = child_fit < fit[idx]
        u[idx] = torch.where(better[..., None], child_u, u[idx])
        colour[idx] = torch.where(better[..., None, None], child_c, colour[idx])
        fit[idx] = torch.where(better, child_fit, fit[idx])
        logits[idx] = torch.where(better[..., None, None], child_logits, logits[idx])
        history.append(float(fit.amin(1).mean()))
        if callback is not None:
            x_best = _best_images(pix, u, colour, fit)
            if callback(step, x_best, fit.amin(1)):
                break
    return finish(objective, x0, _best_images(pix, u, colour, fit), goal, start, history)


def _best_images(pix: _Pixels, u: torch.Tensor, colour: torch.Tensor,
                 fit: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(u.shape[0], device=u.device)
    best = fit.argmin(1)
    return pix.render(rows, u[rows, best].unsqueeze(1), colour[rows, best].unsqueeze(1))


def _check_pixels(budget: Budget) -> None:
    if math.isinf(budget.eps) or budget.eps < 1:
        raise UserError(f"eps is the number of pixels and must be a finite number >= 1, got "
                        f"{budget.eps}", "attack 'one_pixel' budget.eps")


def _pixels_from_eps(budget: Budget, x0: torch.Tensor) -> int:
    if x0.ndim != 4:
        raise UserError(f"needs images (B, C, H, W), got shape {tuple(x0.shape)}",
                        "attack 'one_pixel'")
    _check_pixels(budget)
    return int(budget.eps)


class OnePixel(KernelAttack):
    """One-pixel attack (Su et al. 2019, arXiv:1710.08864): black-box, L0 in pixels."""

    name = "one_pixel"
    norms = ("l0",)
    black_box = True
    Options = OnePixelOptions
    kernel = staticmethod(one_pixel)

    def check_budget(self, budget: Budget) -> None:
        _check_pixels(budget)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return int(opts.generations or budget.steps)
