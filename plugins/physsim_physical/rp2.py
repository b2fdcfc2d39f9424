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

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import Field, field_validator

from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.checkpoint import objective_state, restore_objective
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
    lambda_l1: float = Field(20.0, ge=0, description="weight of the mean |delta| in the L1 pass")
    area_fraction: float = Field(0.08, gt=0, le=1, description="sticker area / allowed area")
    stickers: int = Field(2, ge=1, description="K, the number of separate stickers")
    lambda_l2: float = Field(0.0, ge=0)
    lambda_tv: float = Field(0.02, ge=0)
    lambda_nps: float = Field(0.02, ge=0)
    lr: float = Field(0.1, gt=0, description="Adam learning rate")
    palette: Literal["bw", "bw_red_yellow"] | list[list[float]] = "bw"
    quantize: bool = True
    finetune_steps: int = Field(30, ge=0, description="steps through the quantiser")

    @field_validator("palette")
    @classmethod
    def _printable(cls, value: str | list[list[float]]) -> str | list[list[float]]:
        # a colour outside [0, 1] reached the texture and failed the render only after the
        # attack; one of another length failed with a traceback
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one colour")
            for i, colour in enumerate(value):
                if len(colour) != 3 or not all(0 <= c <= 1 for c in colour):
                    raise ValueError(f"colour {i} must be three values (R, G, B) in [0, 1], "
                                     f"got {colour}")
        return value


def _eot_term(objective: Objective, x: torch.Tensor, goal: Goal) -> tuple[torch.Tensor, ...]:
    """The EOT loss of ``x`` and a surrogate whose gradient through ``x`` is the EOT gradient.

    ``objective.value_and_grad`` computes d(loss)/dx (in chunks, with fresh EOT samples);
    ``sum(grad * x)`` carries that gradient back through the parameterisation with ordinary
    autograd, beside the regularisers.
    """
    loss, grad, _ = objective.value_and_grad(x.detach(), goal.loss)
    return loss, (grad * x).flatten(1).sum(1)


@dataclass
class _State:
    """Everything RP2 needs to continue where it stopped (saved in checkpoints)."""

    phase: int = 0
    step: int = 0
    delta: torch.Tensor | None = None
    w: torch.Tensor | None = None
    region: torch.Tensor | None = None
    opt: dict[str, Any] | None = None
    history: list[float] = field(default_factory=list)
    stopped: bool = False
    #: the objective's (forwards, backwards, queries) when the attack began: it reports
    #: what it used, not what an objective used before it
    origin: tuple[int, int, int] = (0, 0, 0)


def _snapshot(st: _State, opt: torch.optim.Optimizer, objective: Objective) -> dict[str, Any]:
    """A consistent copy of the state at a step boundary (the optimiser mutates in place)."""
    out = {k: (v.detach().clone() if isinstance(v, torch.Tensor) else v)
           for k, v in vars(st).items() if k != "opt"}
    out["history"] = list(st.history)
    out["opt"] = copy.deepcopy(opt.state_dict())
    out["objective"] = objective_state(objective)
    return out


def rp2(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
        mask: torch.Tensor | None, generator: torch.Generator, options: RP2Options,
        callback: Callback | None = None, checkpoints: Any = None) -> AttackResult:
    """Run RP2 on textures ``x0`` (B, 3, H, W) in [0, 1] inside ``mask`` (B, 3, H, W) 0/1.

    With ``budget.eps >= 1`` stickers replace the texture's colour inside the mask; with a
    smaller eps the perturbation is additive and bounded by eps in L-inf (the "subtle
    poster"). ``budget.steps`` is the number of refinement steps. With ``checkpoints`` (a
    :class:`physsim.checkpoint.CheckpointStore`) the state is saved at step boundaries and a
    saved state is resumed exactly.
    """
    allowed = torch.ones_like(x0) if mask is None else mask
    replace = budget.eps >= 1.0
    palette = torch.tensor(PALETTES[options.palette] if isinstance(options.palette, str)
                           else options.palette, dtype=x0.dtype, device=x0.device)
    phases = [options.sensitivity_steps, budget.steps]
    if replace and options.quantize:
        phases.append(options.finetune_steps)
    init = x0.clamp(0.02, 0.98)
    st = _State(delta=torch.zeros_like(x0), region=allowed,
                w=torch.log(init / (1 - init)) if replace else torch.zeros_like(x0),
                origin=(objective.forwards, objective.backwards, objective.queries))
    saved = checkpoints.load() if checkpoints is not None else None
    if saved is not None:
        restore_objective(objective, saved.pop("objective"))
        st = _State(**saved)
    assert st.w is not None and st.delta is not None and st.region is not None

    def compose(w: torch.Tensor, region: torch.Tensor, quantised: bool) -> torch.Tensor:
        if replace:
            colour = torch.sigmoid(w)
            if quantised:  # straight-through: forward the palette colour, backward the soft one
                colour = colour + (quantize(colour, palette) - colour).detach()
            return x0 * (1 - region) + region * colour
        return (x0 + region * budget.eps * torch.tanh(w)).clamp(0, 1)

    def loss_of(var: torch.Tensor, phase: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(value to report, surrogate to backpropagate, the rendered input) for one step."""
        assert st.region is not None
        if phase == 0:  # sensitivity: additive over the whole allowed region, L1-sparse
            x = (x0 + allowed * var).clamp(0, 1)
            reg = options.lambda_l1 * (allowed * var).abs().flatten(1).mean(1)
        else:
            x = compose(var, st.region, quantised=phase == 2)
            diff = st.region * (x - x0)
            reg = (options.lambda_tv * total_variation(diff)
                   + options.lambda_l2 * diff.flatten(1).pow(2).mean(1))
            if replace:
                reg = reg + options.lambda_nps * non_printability_score(x, palette,
                                                                        st.region[:, :1])
        value, surrogate = _eot_term(objective, x, goal)
        return value + reg.detach(), surrogate + reg, x

    for phase in range(st.phase, len(phases)):
        var = (st.delta if phase == 0 else st.w).requires_grad_(True)
        opt = torch.optim.Adam([var], lr=options.lr * (0.5 if phase == 0 else 1.0))
        if st.opt is not None and phase == st.phase:
            opt.load_state_dict(st.opt)
        first = st.step if phase == st.phase else 0
        for k in range(first, 0 if st.stopped else phases[phase]):
            value, surrogate, x = loss_of(var, phase)
            opt.zero_grad()
            surrogate.sum().backward()
            opt.step()
            st.history.append(float(value.mean()))
            if callback is not None:
                st.stopped = bool(callback(len(st.history), x.detach(), value.detach()))
            st.phase, st.step = phase, k + 1
            if checkpoints is not None:
                checkpoints.save(_snapshot(st, opt, objective))
            if st.stopped:
                break
        if phase == 0 and phases[0] > 0:
            sens = (allowed * st.delta.detach()).abs().sum(1)
            st.region = torch.stack([
                sticker_regions(sens[i], allowed[i, 0], options.area_fraction, options.stickers)
                for i in range(x0.shape[0])]).unsqueeze(1).expand_as(x0)
        st.opt = None
    with torch.no_grad():
        x_adv = compose(st.w, st.region, replace and options.quantize).detach()
        x_adv = x0 + allowed * (x_adv - x0)
        success = goal.success(objective.predict(x_adv))
    return AttackResult(
        x_adv=x_adv, perturbation=x_adv - x0, success=success, loss_history=st.history,
        forwards=objective.forwards - st.origin[0], backwards=objective.backwards - st.origin[1],
        queries=objective.queries - st.origin[2],
        extras={"sticker_area_fraction": float(st.region[:, 0].sum() / allowed[:, 0].sum())},
        region=st.region[:, :1].detach(),
    )


class RP2(Attack):
    """RP2 sticker / poster attack (Eykholt et al. 2018, arXiv:1707.08945)."""

    name = "rp2"
    Options = RP2Options
    resumable = True
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
        return rp2(objective, x0, goal, budget, mask, generator, opts, callback,
                   self.checkpoints)
