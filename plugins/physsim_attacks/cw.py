"""Carlini-Wagner L2 attack (Carlini & Wagner 2017, arXiv:1608.04644)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.options import Options
from physsim.perturbation import feasible
from physsim_attacks._common import KernelAttack, counts, finish


class CWOptions(Options):
    """Options of ``cw_l2``.

    Attributes:
        binary_search_steps: rounds of the per-input search on the constant c (9 in the paper).
        initial_const: the first c (1e-3 in the paper); multiplied by 10 until a round
            succeeds, then bisected.
        kappa: confidence: the margin must exceed kappa (0 = just cross the boundary).
        abort_early: end a round when the loss stops falling (checked every steps/10).
    """

    binary_search_steps: int = Field(9, ge=1)
    initial_const: float = Field(1e-3, gt=0.0)
    kappa: float = Field(0.0, ge=0.0)
    abort_early: bool = True


def _to_w(x: torch.Tensor) -> torch.Tensor:
    """The tanh-space variable of ``x`` in [0, 1] (edges pulled in so atanh stays finite)."""
    return torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))


def cw_l2(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
          mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
          callback: Callback | None = None, early_stop: bool = False,
          binary_search_steps: int = 9, initial_const: float = 1e-3, kappa: float = 0.0,
          abort_early: bool = True) -> AttackResult:
    """Minimal-L2 perturbation by the Carlini-Wagner method (Carlini & Wagner 2017).

    Minimises ``||x - x0||_2^2 + c * max(Z_own - max_other Z, -kappa)`` (the goal's margin,
    averaged over the EOT samples) over ``x = x0 + mask * ((tanh(w) + 1) / 2 - x0)``, so x
    stays in [0, 1] without clipping, with Adam (learning rate ``budget.step_size``,
    default 0.01) for ``budget.steps`` iterations per round, and a per-input binary search on
    c over ``binary_search_steps`` rounds. Each input keeps the smallest successful
    perturbation seen; inputs never fooled return x0. A finite eps caps the result (it is
    projected onto the eps ball); ``eps = inf`` leaves it unbounded.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C) for any S.
        x0: (B, ...) clean inputs in [0, 1].
        goal: resolved goal; any mode.
        budget: norm "l2"; eps (cap) and steps (Adam iterations per round); step size.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(step, x (B, ...), loss (B,))`` after each Adam step (step counts
            across rounds); True stops the attack.
        early_stop: ignored (the attack searches the smallest perturbation).
        binary_search_steps: see :class:`CWOptions`.
        initial_const: see :class:`CWOptions`.
        kappa: see :class:`CWOptions`.
        abort_early: see :class:`CWOptions`.

    Returns:
        :class:`AttackResult`; ``extras["const"]`` is the mean c of the kept perturbations.
    """
    start = counts(objective)
    b, view = x0.shape[0], (-1,) + (1,) * (x0.ndim - 1)
    keep = torch.ones_like(x0) if mask is None else mask
    w0 = _to_w(x0)
    const = torch.full((b,), initial_const, dtype=x0.dtype, device=x0.device)
    lower, upper = torch.zeros_like(const), torch.full_like(const, float("inf"))
    best_l2 = torch.full_like(const, float("inf"))
    best_const = torch.zeros_like(const)
    best = x0.clone()
    history: list[float] = []
    step, check = 0, max(1, budget.steps // 10)
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=budget.step_size or 0.01)
        found = torch.zeros(b, dtype=torch.bool, device=x0.device)
        prev = float("inf")
        for it in range(budget.steps):
            t = torch.tanh(w.detach())
            x = x0 + keep * ((t + 1) / 2 - x0)
            margin, g_margin, logits = objective.value_and_grad(
                x, lambda z: goal.margin(z, kappa))
            d = x - x0
            l2 = d.flatten(1).norm(dim=1)
            loss = l2**2 + const * margin
            ok = goal.success(logits)
            better = ok & (l2 < best_l2)
            best[better], best_l2[better] = x[better], l2[better]
            best_const[better] = const[better]
            found |= ok
            # chain rule through x(w): dx/dw = mask * (1 - tanh^2) / 2
            grad_x = 2 * d + const.view(view) * g_margin
            opt.zero_grad()
            w.grad = grad_x * keep * (1 - t**2) / 2
            opt.step()
            history.append(float(loss.mean()))
            if callback is not None and callback(step, x, loss.detach()):
                return _result(objective, x0, best, goal, budget, mask, start, history,
                               best_const)
            step += 1
            if abort_early and (it + 1) % check == 0:
                total = float(loss.sum())
                if total > prev * 0.9999:
                    break
                prev = total
        upper = torch.where(found, torch.minimum(upper, const), upper)
        lower = torch.where(found, lower, torch.maximum(lower, const))
        const = torch.where(torch.isinf(upper), const * 10, (lower + upper) / 2)
    return _result(objective, x0, best, goal, budget, mask, start, history, best_const)


def _result(objective: Objective, x0: torch.Tensor, best: torch.Tensor, goal: Goal,
            budget: Budget, mask: torch.Tensor | None, start: tuple[int, int, int],
            history: list[float], best_const: torch.Tensor) -> AttackResult:
    delta = feasible(best - x0, x0, budget.norm, budget.eps, mask)
    found = best_const > 0
    const = float(best_const[found].mean()) if found.any() else 0.0
    return finish(objective, x0, x0 + delta, goal, start, history, {"const": const})


class CarliniWagnerL2(KernelAttack):
    """Carlini-Wagner L2 (Carlini & Wagner 2017, arXiv:1608.04644): tanh box, binary search
    on c, Adam; minimal L2 norm."""

    name = "cw_l2"
    norms = ("l2",)
    Options = CWOptions
    kernel = staticmethod(cw_l2)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return budget.steps * int(opts.binary_search_steps)
