"""Robust Physical Perturbations (RP2): stickers and posters that survive the physical world.

Eykholt, Evtimov, Fernandes, Li, Rahmati, Xiao, Prakash, Kohno and Song, 2018, "Robust
Physical-World Attacks on Deep Learning Visual Classification", arXiv:1707.08945.

The perturbation lives in a mask on the object's texture and is optimised through the EOT
objective (distance, angle, light, printer, camera) with a smoothness (total variation) and a
non-printability term. Stickers are opaque: inside the mask the texture's colour is replaced,
not added to. The two-stage procedure: an L1-regularised pass over the whole allowed region
finds where the object is most sensitive; that map is thresholded into K sticker regions; an
L2-regularised refinement optimises the colours inside them; finally the colours are quantised
to a small printable palette (e.g. black and white), fine-tuned through the quantiser with a
straight-through estimator, and the result is checked on fresh EOT samples.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.eot.printer import non_printability_score
from physsim.options import Options
from physsim_physical.regions import quantize, sticker_regions, total_variation

PALETTES: dict[str, list[list[float]]] = {
    "bw": [[0.05, 0.05, 0.05], [0.95, 0.95, 0.95]],
    "bw_red_yellow": [[0.05, 0.05, 0.05], [0.95, 0.95, 0.95], [0.75, 0.08, 0.1],
                      [0.95, 0.8, 0.1]],
}


class RP2Options(Options):
    """RP2's knobs; the step count and the budget come from the scene's budget."""

    sensitivity_steps: int = Field(40, ge=0, description="L1 pass steps (0: use the mask as is)")
    lambda_l1: float = Field(0.002, ge=0, description="L1 weight in the sensitivity pass")
    area_fraction: float = Field(0.08, gt=0, le=1, description="sticker area / allowed area")
    stickers: int = Field(2, ge=1, description="K, the number of separate stickers")
    lambda_l2: float = Field(0.0, ge=0)
    lambda_tv: float = Field(0.02, ge=0)
    lambda_nps: float = Field(0.02, ge=0)
    lr: float = Field(0.1, gt=0, description="Adam learning rate")
    palette: Literal["bw", "bw_red_yellow"] | list[list[float]] = "bw"
    quantize: bool = True
    finetune_steps: int = Field(30, ge=0, description="steps through the quantiser")


def _eot_term(objective: Objective, x: torch.Tensor, goal: Goal) -> tuple[torch.Tensor, ...]:
    """The EOT loss of ``x`` and a surrogate whose gradient through ``x`` is the EOT gradient.

    ``objective.value_and_grad`` computes d(loss)/dx (in chunks, with fresh EOT samples);
    ``sum(grad * x)`` carries that gradient back through the parameterisation with ordinary
    autograd, beside the regularisers.
    """
    loss, grad, _ = objective.value_and_grad(x.detach(), goal.loss)
    return loss, (grad * x).flatten(1).sum(1)


def rp2(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
        mask: torch.Tensor | None, generator: torch.Generator, options: RP2Options,
        callback: Callback | None = None) -> AttackResult:
    """Run RP2 on textures ``x0`` (B, 3, H, W) in [0, 1] inside ``mask`` (B, 3, H, W) 0/1.

    With ``budget.eps >= 1`` stickers replace the texture's colour inside the mask; with a
    smaller eps the perturbation is additive and bounded by eps in L-inf (the "subtle
    poster"). ``budget.steps`` is the number of refinement steps.
    """
    allowed = torch.ones_like(x0) if mask is None else mask
    history: list[float] = []
    stopped = False

    def report(loss: torch.Tensor, x: torch.Tensor) -> bool:
        """Record the step; True once the callback asked to stop (for every later phase too)."""
        nonlocal stopped
        history.append(float(loss.mean()))
        if callback is not None and not stopped:
            stopped = bool(callback(len(history), x.detach(), loss.detach()))
        return stopped

    region = allowed
    if options.sensitivity_steps > 0:
        delta = torch.zeros_like(x0, requires_grad=True)
        opt = torch.optim.Adam([delta], lr=options.lr * 0.5)
        for _ in range(options.sensitivity_steps):
            x = (x0 + allowed * delta).clamp(0, 1)
            value, surrogate = _eot_term(objective, x, goal)
            l1 = options.lambda_l1 * (allowed * delta).abs().flatten(1).sum(1)
            opt.zero_grad()
            (surrogate + l1).sum().backward()
            opt.step()
            if report(value + l1.detach(), x):
                break
        sens = (allowed * delta.detach()).abs().sum(1)
        region = torch.stack([sticker_regions(sens[i], allowed[i, 0], options.area_fraction,
                                              options.stickers) for i in range(x0.shape[0])])
        region = region.unsqueeze(1).expand_as(x0)
    replace = budget.eps >= 1.0
    palette = torch.tensor(PALETTES[options.palette] if isinstance(options.palette, str)
                           else options.palette, dtype=x0.dtype, device=x0.device)

    def compose(w: torch.Tensor, quantised: bool) -> torch.Tensor:
        if replace:
            colour = torch.sigmoid(w)
            if quantised:  # straight-through: forward the palette colour, backward the soft one
                colour = colour + (quantize(colour, palette) - colour).detach()
            return x0 * (1 - region) + region * colour
        return (x0 + region * budget.eps * torch.tanh(w)).clamp(0, 1)

    init = x0.clamp(0.02, 0.98)
    w = (torch.log(init / (1 - init)) if replace else torch.zeros_like(x0)).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=options.lr)
    phases = [(budget.steps, False)]
    if replace and options.quantize:
        phases.append((options.finetune_steps, True))
    for n, quantised in phases:
        for _ in range(0 if stopped else n):
            x = compose(w, quantised)
            diff = region * (x - x0)
            value, surrogate = _eot_term(objective, x, goal)
            reg = (options.lambda_tv * total_variation(diff)
                   + options.lambda_l2 * diff.flatten(1).pow(2).mean(1))
            if replace:
                reg = reg + options.lambda_nps * non_printability_score(x, palette, region[:, :1])
            opt.zero_grad()
            (surrogate + reg).sum().backward()
            opt.step()
            if report(value + reg.detach(), x):
                break
    with torch.no_grad():
        x_adv = compose(w, replace and options.quantize).detach()
        x_adv = x0 + allowed * (x_adv - x0)
        success = goal.success(objective.predict(x_adv))
    return AttackResult(
        x_adv=x_adv, perturbation=x_adv - x0, success=success, loss_history=history,
        forwards=objective.forwards, backwards=objective.backwards, queries=objective.queries,
        extras={"sticker_area_fraction": float(region[:, 0].sum() / allowed[:, 0].sum())},
        region=region[:, :1].detach(),
    )


class RP2(Attack):
    """RP2 sticker / poster attack (Eykholt et al. 2018, arXiv:1707.08945)."""

    name = "rp2"
    Options = RP2Options
    norms = ("linf",)
    modes = ("untargeted", "targeted", "least_likely")

    def total_steps(self, budget: Budget) -> int:
        o: RP2Options = self.options  # type: ignore[assignment]
        quant = o.finetune_steps if (o.quantize and budget.eps >= 1) else 0
        return o.sensitivity_steps + budget.steps + quant

    def perturb(self, objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
                mask: torch.Tensor | None, generator: torch.Generator,
                callback: Callback | None, early_stop: bool) -> AttackResult:
        opts: RP2Options = self.options  # type: ignore[assignment]
        return rp2(objective, x0, goal, budget, mask, generator, opts, callback)
