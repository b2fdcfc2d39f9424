"""The attacker's objective with a defense inside it (adaptive and plain white-box attacks).

See :mod:`physsim.defense_eval` for the defended system it wraps.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import torch

from physsim.attack import Goal, LossFn
from physsim.defense_eval import DefendedSystem, Mode
from physsim.objective import ClassifierObjective, Renderer

#: EOT draws per input when a randomised defense is attacked without a physical renderer
EOT_DRAWS = 8
#: logit margin by which an adaptive attack against a detector keeps meeting its goal
KAPPA = 1.0


class Replicate:
    """A :class:`physsim.objective.Renderer` that repeats each input n times, so that a
    randomised defense draws n times per input (EOT without a physical world)."""

    def sample(self, n: int, generator: torch.Generator) -> int:
        return n

    def select(self, params: int, index: slice) -> int:
        return len(range(*index.indices(params)))

    def render(self, x: torch.Tensor, params: int) -> torch.Tensor:
        return x.unsqueeze(1).expand(x.shape[0], params, *x.shape[1:])


class DefendedObjective(ClassifierObjective):
    """The attacker's objective with the defense inside it.

    In "bpda" mode (adaptive) a randomised system without a renderer gets :data:`EOT_DRAWS`
    draws per input, and a system with detectors adds their :meth:`DefendedSystem.penalty`
    to the attack's loss; where an input already meets the goal its classification loss is
    held constant, so only the detectors pull on it (as in Carlini and Wagner 2017,
    arXiv:1705.07263, who fold the detector into the loss).

    Args:
        system: the defended system.
        goal: the resolved goal (least-likely targets filled in).
        mode: "bpda" (adaptive) or "naive" (plain white-box).
        renderer, samples, chunk, generator: as :class:`ClassifierObjective`.
    """

    def __init__(self, system: DefendedSystem, goal: Goal, mode: Mode = "bpda",
                 renderer: Renderer | None = None, samples: int = 1, chunk: int | None = None,
                 generator: torch.Generator | None = None,
                 schedule: Literal["joint", "sequential"] = "joint") -> None:
        if renderer is None and mode == "bpda" and system.randomized:
            renderer, samples = Replicate(), EOT_DRAWS
        super().__init__(partial(system.logits, mode=mode), system.classifier.num_classes,
                         renderer, samples, chunk, generator)
        self.system = system
        self.goal = goal
        self.aware = mode == "bpda" and bool(system.detectors)
        self.kappa = KAPPA
        self.schedule = schedule
        self._penalty: torch.Tensor | None = None

    def _logits_of(self, x: torch.Tensor, params: Any) -> torch.Tensor:
        images = x.unsqueeze(1) if self.renderer is None else self.renderer.render(x, params)
        b, s = images.shape[:2]
        flat = images.flatten(0, 1)
        self.forwards += 1
        self.queries += b * s
        if self.aware and torch.is_grad_enabled():
            self._penalty = self.system.penalty(flat).view(b, s)
        return self.model(flat).view(b, s, -1)

    def value_and_grad(self, x: torch.Tensor, loss_fn: LossFn
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.aware:
            return super().value_and_grad(x, loss_fn)

        def penalised(logits: torch.Tensor) -> torch.Tensor:
            value = loss_fn(logits)
            assert self._penalty is not None
            if self.goal.labels.shape[0] != logits.shape[0]:
                return value + self._penalty
            # the goal's loss is held once it is met by a margin: past that only the
            # detectors pull ("joint": they pull all along; "sequential": only then)
            safe = self.goal.margin(logits, float("inf")) < -self.kappa
            if self.schedule == "joint":
                return torch.where(safe, value.detach(), value) + self._penalty
            return torch.where(safe, value.detach() + self._penalty, value)

        return super().value_and_grad(x, penalised)
