"""Box-constrained L-BFGS attack (Szegedy et al. 2013, arXiv:1312.6199)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.options import Options
from physsim.perturbation import feasible
from physsim_attacks._common import KernelAttack, counts, finish


class LBFGSOptions(Options):
    """Options of ``lbfgs``.

    Attributes:
        search_steps: rounds of the per-input search on c: multiply or divide by 10 until the
            outcome flips, then bisect geometrically.
        initial_const: the first c (weight of the squared L2 distance).
        history_size: L-BFGS memory.
        line_search: "strong_wolfe" (deterministic objectives) or "none" (fixed unit steps,
            steadier when EOT makes every evaluation noisy).
    """

    search_steps: int = Field(10, ge=1)
    initial_const: float = Field(1e-1, gt=0.0)
    history_size: int = Field(10, ge=1)
    line_search: Literal["strong_wolfe", "none"] = "strong_wolfe"


def _minimise(objective: Objective, x0: torch.Tensor, goal: Goal, const: torch.Tensor,
              keep: torch.Tensor, steps: int, history_size: int, line_search: str,
              history: list[float]) -> torch.Tensor:
    """One L-BFGS run on ``c ||x - x0||^2 + CE(x, target)``; returns the final x."""
    w0 = torch.atanh((2 * x0 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=steps, history_size=history_size,
                            line_search_fn=None if line_search == "none" else line_search)
    view = (-1,) + (1,) * (x0.ndim - 1)

    def closure() -> torch.Tensor:
        t = torch.tanh(w.detach())
        x = x0 + keep * ((t + 1) / 2 - x0)
        ce, g_ce, _ = objective.value_and_grad(x, goal.loss)
        d = x - x0
        loss = const * d.flatten(1).pow(2).sum(1) + ce
        # the box is a change of variables: dx/dw = mask * (1 - tanh^2) / 2
        w.grad = (2 * const.view(view) * d + g_ce) * keep * (1 - t**2) / 2
        history.append(float(loss.mean()))
        return loss.sum()

    opt.step(closure)
    t = torch.tanh(w.detach())
    return x0 + keep * ((t + 1) / 2 - x0)


def lbfgs(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
          mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
          callback: Callback | None = None, early_stop: bool = False,
          search_steps: int = 10, initial_const: float = 0.1, history_size: int = 10,
          line_search: str = "strong_wolfe") -> AttackResult:
    """Szegedy et al.'s targeted minimal-L2 attack by penalised L-BFGS and a search on c.

    Minimises ``c * ||r||_2^2 + CE(x0 + r, target)`` subject to ``x0 + r`` in [0, 1] with
    ``torch.optim.LBFGS`` (``budget.steps`` iterations per round). The paper's box-constrained
    L-BFGS-B is realised by the change of variables ``x = (tanh(w) + 1) / 2`` (as Carlini &
    Wagner 2017 do), which keeps the box exactly. The paper searches the penalty constant;
    with c on the distance term that means the *largest* c whose minimiser still reaches the
    target, found per input by a geometric bracket-and-bisect over ``search_steps`` rounds.
    Each input keeps its smallest successful perturbation; inputs never fooled return x0.
    The squared norm keeps the objective smooth for the quasi-Newton steps; the CE is
    averaged over EOT samples, but L-BFGS assumes a deterministic objective (use few or no
    EOT samples, or ``line_search="none"``). A finite eps caps the result by projection.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C).
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved targeted or least-likely goal.
        budget: norm "l2"; eps (cap, ``inf`` for none); steps (L-BFGS iterations per round).
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(round, x_best (B, ...), l2 (B,))`` after each round, with the
            L2 norm that round reached; True stops.
        early_stop: ignored (the attack searches the smallest perturbation).
        search_steps: see :class:`LBFGSOptions`.
        initial_const: see :class:`LBFGSOptions`.
        history_size: see :class:`LBFGSOptions`.
        line_search: see :class:`LBFGSOptions`.

    Returns:
        :class:`AttackResult`; ``extras["const"]`` is the mean c of the kept perturbations.
    """
    start = counts(objective)
    keep = torch.ones_like(x0) if mask is None else mask
    const = torch.full((x0.shape[0],), initial_const, dtype=x0.dtype, device=x0.device)
    works, fails = torch.zeros_like(const), torch.full_like(const, float("inf"))
    best, best_l2 = x0.clone(), torch.full_like(const, float("inf"))
    history: list[float] = []
    for rnd in range(search_steps):
        x = _minimise(objective, x0, goal, const, keep, budget.steps, history_size,
                      line_search, history)
        ok = goal.success(objective.predict(x))
        l2 = (x - x0).flatten(1).norm(dim=1)
        better = ok & (l2 < best_l2)
        best[better], best_l2[better] = x[better], l2[better]
        works = torch.where(ok, torch.maximum(works, const), works)
        fails = torch.where(ok, fails, torch.minimum(fails, const))
        bracketed = (works > 0) & torch.isfinite(fails)
        const = torch.where(bracketed, (works * fails).sqrt(),
                            torch.where(ok, const * 10, const / 10))
        if callback is not None and callback(rnd, best, l2):
            break
    delta = feasible(best - x0, x0, budget.norm, budget.eps, mask)
    done = torch.isfinite(best_l2)
    extras = {"const": float(works[done].mean()) if done.any() else 0.0}
    return finish(objective, x0, x0 + delta, goal, start, history, extras)


class LBFGS(KernelAttack):
    """Box-constrained L-BFGS (Szegedy et al. 2013, arXiv:1312.6199); targeted, minimal L2."""

    name = "lbfgs"
    norms = ("l2",)
    modes = ("targeted", "least_likely")
    Options = LBFGSOptions
    kernel = staticmethod(lbfgs)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return int(opts.search_steps)

