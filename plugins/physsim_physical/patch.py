"""The universal adversarial patch.

Brown, Mané, Roy, Abadi and Gilmer, 2017, "Adversarial Patch", arXiv:1712.09665.

The patch is the whole perturbable tensor: the core's objective places it on objects at random
positions, scales and rotations (its renderer does the placement, then the physical EOT model),
so this attack only has to maximise the expected target log-probability over those samples:
Adam on the patch's logits, with the patch kept in [0, 1] and inside its shape's mask.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from pydantic import Field

from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.checkpoint import objective_state, restore_objective
from physsim.errors import UserError
from physsim.options import Options


class PatchOptions(Options):
    lr: float = Field(0.05, gt=0, description="Adam learning rate on the patch's logits")
    init: float | None = Field(None, ge=0, le=1,
                               description="start from this grey level (None: from x0)")


def adversarial_patch(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
                      mask: torch.Tensor | None, options: PatchOptions,
                      callback: Callback | None = None, checkpoints: Any = None) -> AttackResult:
    """Optimise patches ``x0`` (B, 3, P, P) in [0, 1]; ``mask`` (B, 3, P, P) is their shape.

    Each step draws fresh placements and physical conditions from the objective, so the patch
    is universal over objects, poses and backgrounds. ``budget.steps`` steps of Adam; the
    patch replaces what is under it, so the L-inf budget is 1. With ``checkpoints`` the
    state is saved at step boundaries and a saved state is resumed exactly.
    """
    start = x0 if options.init is None else torch.full_like(x0, options.init)
    start = start.clamp(0.02, 0.98)
    w = torch.log(start / (1 - start))
    keep = torch.ones_like(x0) if mask is None else mask
    history: list[float] = []
    first, opt_state = 0, None
    # the objective's counters when the attack began: it reports what it used
    origin = (objective.forwards, objective.backwards, objective.queries)
    saved = checkpoints.load() if checkpoints is not None else None
    if saved is not None:
        restore_objective(objective, saved["objective"])
        w, history, first, opt_state = saved["w"], saved["history"], saved["step"], saved["opt"]
        origin = saved.get("origin", (0, 0, 0))
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=options.lr)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for step in range(first, budget.steps):
        x = x0 + keep * (torch.sigmoid(w) - x0)
        loss, grad, _ = objective.value_and_grad(x.detach(), goal.loss)
        opt.zero_grad()
        (grad * x).sum().backward()  # the EOT gradient, chained through the sigmoid
        opt.step()
        history.append(float(loss.mean()))
        stop = callback is not None and callback(step + 1, x.detach(), loss)
        if checkpoints is not None:
            checkpoints.save({"w": w.detach().clone(), "history": list(history),
                              "step": step + 1, "opt": copy.deepcopy(opt.state_dict()),
                              "objective": objective_state(objective), "origin": origin})
        if stop:
            break
    with torch.no_grad():
        x_adv = x0 + keep * (torch.sigmoid(w) - x0)
        success = goal.success(objective.predict(x_adv))
    return AttackResult(x_adv=x_adv, perturbation=x_adv - x0, success=success,
                        loss_history=history, forwards=objective.forwards - origin[0],
                        backwards=objective.backwards - origin[1],
                        queries=objective.queries - origin[2])


class AdversarialPatch(Attack):
    """Universal adversarial patch (Brown et al. 2017, arXiv:1712.09665)."""

    name = "adversarial_patch"
    Options = PatchOptions
    resumable = True
    norms = ("linf",)
    modes = ("targeted", "untargeted", "least_likely")

    def check_budget(self, budget: Budget) -> None:
        if budget.eps < 1:  # an eps below 1 was accepted, reported, and never kept
            raise UserError(f"the patch replaces what lies under it, so its L-inf budget is "
                            f"eps 1; got {budget.eps:g}", f"attack {self.name!r} budget.eps")

    def perturb(self, objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
                mask: torch.Tensor | None, generator: torch.Generator,
                callback: Callback | None, early_stop: bool) -> AttackResult:
        opts: PatchOptions = self.options  # type: ignore[assignment]
        return adversarial_patch(objective, x0, goal, budget, mask, opts, callback,
                                 self.checkpoints)
