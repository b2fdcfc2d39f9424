"""The attack contract: budget, goal, objective and result types, and the Attack base class.

An attack receives from the core one differentiable :class:`Objective` (perturbable tensor ->
render -> EOT -> classifier -> logits over S samples), the clean tensor ``x0`` (an image, a
texture or a patch), an optional mask of where it may change ``x0``, a :class:`Budget`, a
:class:`Goal`, a ``torch.Generator`` and an optional per-step callback. It never sees the scene,
files or the CLI. Inputs live in [0, 1]; the classifier owns its normalisation.
"""

from __future__ import annotations

import numbers
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from physsim.component import Component
from physsim.errors import UserError
from physsim.perturbation import lp_norm

Norm = Literal["linf", "l2", "l1", "l0"]
Mode = Literal["untargeted", "targeted", "least_likely"]
NORMS: tuple[str, ...] = ("linf", "l2", "l1", "l0")
MODES: tuple[str, ...] = ("untargeted", "targeted", "least_likely")

#: ``callback(step, x, loss) -> stop?``: x is the current (B, ...) tensor, loss (B,) per input.
Callback = Callable[[int, torch.Tensor, torch.Tensor], bool | None]
#: ``loss_fn(logits) -> loss``: logits (B, s, C) -> (B, s), the value the attack minimises.
LossFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Budget:
    """How far and how long an attack may go.

    Attributes:
        norm: the norm ``eps`` bounds: "linf", "l2", "l1" or "l0" (pixels changed).
        eps: the radius of the perturbation ball in [0, 1] image units (``inf`` = unbounded).
        steps: optimisation steps (iterations, generations or queries per step, per attack).
        step_size: the step per iteration; None lets the attack choose (usually eps / steps * 2.5).
    """

    norm: Norm = "linf"
    eps: float = 8 / 255
    steps: int = 10
    step_size: float | None = None

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise UserError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}", "budget")
        if not self.eps >= 0:
            raise UserError(f"eps must be >= 0, got {self.eps}", "budget.eps")
        if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral):
            raise UserError(f"steps must be a whole number, got {self.steps!r}", "budget.steps")
        if self.steps < 1:
            raise UserError(f"steps must be >= 1, got {self.steps}", "budget.steps")
        if self.step_size is not None and not self.step_size > 0:
            raise UserError(f"step_size must be > 0, got {self.step_size}", "budget.step_size")

    @property
    def alpha(self) -> float:
        """The step size, defaulting to 2.5 * eps / steps (Madry et al. 2017)."""
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps


@dataclass(frozen=True)
class Goal:
    """What counts as success.

    Attributes:
        mode: "untargeted" (leave the true class), "targeted" (reach ``targets``), or
            "least_likely" (reach the class the clean input finds least likely; Kurakin et al.
            2016). :meth:`Attack.run` resolves least-likely into ``targets`` before perturbing.
        labels: (B,) true class indices.
        targets: (B,) target class indices; required for "targeted".
    """

    mode: Mode
    labels: torch.Tensor
    targets: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}", "goal")
        if self.mode == "targeted" and self.targets is None:
            raise UserError("a targeted attack needs a target class", "goal.target")

    @property
    def targeted(self) -> bool:
        return self.mode != "untargeted"

    def class_index(self) -> torch.Tensor:
        """The class the loss is about: the target when targeted, else the true label."""
        if self.targeted:
            if self.targets is None:
                raise UserError("least-likely targets are not resolved yet", "goal")
            return self.targets
        return self.labels

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        """Cross-entropy loss to minimise: (B, S, C) -> (B, S).

        Untargeted minimises the negative cross-entropy of the true class; targeted minimises
        the cross-entropy of the target.
        """
        b, s, c = logits.shape
        idx = self.class_index().to(logits.device).repeat_interleave(s)
        ce = F.cross_entropy(logits.reshape(b * s, c), idx, reduction="none").view(b, s)
        return ce if self.targeted else -ce

    def margin(self, logits: torch.Tensor, kappa: float = 0.0) -> torch.Tensor:
        """Carlini-Wagner margin loss to minimise, clipped at ``-kappa``: (B, S, C) -> (B, S)."""
        idx = self.class_index().to(logits.device).view(-1, 1, 1).expand(-1, logits.shape[1], 1)
        own = logits.gather(2, idx).squeeze(2)
        other = logits.scatter(2, idx, float("-inf")).amax(2)
        diff = other - own if self.targeted else own - other
        return diff.clamp(min=-kappa)

    def achieved(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, S, C) logits -> (B, S) bool: whether each sample's prediction meets the goal."""
        pred = logits.argmax(-1)
        want = self.class_index().to(pred.device).view(-1, 1)
        return pred == want if self.targeted else pred != want

    def success(self, logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """(B,) bool: the goal is met on at least ``threshold`` of the S samples."""
        return self.achieved(logits).float().mean(1) >= threshold


@runtime_checkable
class Objective(Protocol):
    """What the core hands an attack: a differentiable map from the perturbable tensor to logits.

    ``x`` has shape (B, ...) (images (B, 3, H, W), textures or patches) with values in [0, 1].
    Logits come back as (B, S, C): S EOT samples per input (S = 1 without EOT). Every call
    counts in ``forwards``/``backwards``; ``queries`` counts inputs sent to the model.
    """

    num_classes: int
    forwards: int
    backwards: int
    queries: int

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable (B, ...) -> (B, S, C). Counts one forward pass."""
        ...

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Like :meth:`logits` without gradients; what black-box attacks call."""
        ...

    def value_and_grad(
        self, x: torch.Tensor, loss_fn: LossFn
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean over the S samples of ``loss_fn``, its gradient, and the logits.

        Returns:
            (loss (B,), grad (same shape as x), logits (B, S, C) detached). The S samples may be
            evaluated in chunks with accumulated gradients; the result equals one big batch.
        """
        ...


@dataclass
class AttackResult:
    """What every attack returns.

    Attributes:
        x_adv: (B, ...) the adversarial tensor, in [0, 1].
        perturbation: (B, ...) ``x_adv - x0``.
        success: (B,) bool, per input, judged on the final objective evaluation.
        loss_history: mean loss over the batch after each step.
        forwards: forward passes through the objective.
        backwards: backward passes through the objective.
        queries: inputs sent to the model (what black-box attacks are charged for).
        extras: attack-specific figures (e.g. the C&W constant found).
        region: (B, 1, ...) where the attack chose to put its perturbation, when it chooses
            (RP2's stickers inside the allowed mask); None when it is the whole mask.
    """

    x_adv: torch.Tensor
    perturbation: torch.Tensor
    success: torch.Tensor
    loss_history: list[float] = field(default_factory=list)
    forwards: int = 0
    backwards: int = 0
    queries: int = 0
    extras: dict[str, float] = field(default_factory=dict)
    region: torch.Tensor | None = None

    def norms(self, norm: Norm = "linf") -> torch.Tensor:
        """(B,) the norm of each perturbation ("l0" counts pixels of (B, C, H, W) tensors)."""
        return lp_norm(self.perturbation, norm)


class Attack(Component):
    """Base of every attack: validates the request, then calls :meth:`perturb`.

    Subclasses set ``name``, ``Options``, ``norms`` (the norms they can bound), ``modes``
    (the goals they support) and implement :meth:`perturb`, usually as a thin adapter over a
    pure function in the same module.
    """

    kind = "attack"
    norms: ClassVar[tuple[str, ...]] = ("linf",)
    modes: ClassVar[tuple[str, ...]] = MODES
    #: True for attacks that only call ``objective.predict`` (charged in queries).
    black_box: ClassVar[bool] = False
    #: True for attacks that save their state to ``self.checkpoints`` and resume from it.
    resumable: ClassVar[bool] = False
    #: set by the runner before ``run`` for resumable attacks (a CheckpointStore)
    checkpoints: Any = None

    def total_steps(self, budget: Budget) -> int:
        """How many times the attack calls its callback (for progress bars)."""
        return budget.steps

    def check_request(self, norm: str, mode: str) -> None:
        """A :class:`UserError` if the attack does not support ``norm`` or ``mode`` (the core
        calls it as a scene is built, before any work, and again in :meth:`run`)."""
        where = f"attack {self.name!r}"
        if norm not in self.norms:
            raise UserError(f"norm {norm!r} is not supported (supported: "
                            f"{', '.join(self.norms)})", where)
        if mode not in self.modes:
            raise UserError(f"mode {mode!r} is not supported (supported: "
                            f"{', '.join(self.modes)})", where)

    def check_budget(self, budget: Budget) -> None:
        """A :class:`UserError` if the attack cannot keep ``budget`` (e.g. an eps it has no use
        for). The core calls it for every budget of a scene (each eps of a sweep too) as the
        scene is built, before any work, and again in :meth:`run`. By default any budget
        goes."""

    def run(
        self,
        objective: Objective,
        x0: torch.Tensor,
        goal: Goal,
        budget: Budget,
        *,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        early_stop: bool = False,
    ) -> AttackResult:
        """Check the request against what the attack supports, resolve the goal, perturb.

        Args:
            objective: the differentiable objective from the core.
            x0: (B, ...) clean tensor in [0, 1].
            goal: untargeted / targeted / least-likely, with labels (and targets).
            budget: norm, eps, steps, step size.
            mask: broadcastable to ``x0``; 1 where the attack may change x0, 0 elsewhere.
            generator: drives every random choice (random start, DE population...).
            callback: called after each step; returning True stops the attack.
            early_stop: stop updating an input once it succeeds.
        """
        where = f"attack {self.name!r}"
        self.check_request(budget.norm, goal.mode)
        self.check_budget(budget)
        # (NaN fails both comparisons)
        if x0.is_floating_point() and not bool(((x0 >= 0) & (x0 <= 1)).all()):
            raise UserError("x0 must have values in [0, 1]", where)
        c = getattr(objective, "num_classes", None)
        for name, idx in (("labels", goal.labels), ("targets", goal.targets)):
            if idx is None:
                continue
            if idx.shape != (x0.shape[0],):
                raise UserError(f"goal.{name} must have shape ({x0.shape[0]},), one class per "
                                f"input, got {tuple(idx.shape)}", where)
            if isinstance(c, int) and idx.numel() and not bool(((idx >= 0) & (idx < c)).all()):
                raise UserError(f"goal.{name} must be class indices from 0 to {c - 1}, got "
                                f"{int(idx.min())} to {int(idx.max())}", where)
        if goal.mode == "least_likely" and goal.targets is None:
            with torch.no_grad():
                ll = objective.predict(x0).mean(1).argmin(-1)
            goal = Goal("least_likely", goal.labels, ll)
        if mask is not None:
            mask = mask.to(x0.dtype).expand_as(x0)
        if generator is None:
            generator = torch.Generator(device=x0.device).manual_seed(0)
        return self.perturb(
            objective, x0, goal, budget, mask=mask, generator=generator, callback=callback,
            early_stop=early_stop,
        )

    @abstractmethod
    def perturb(
        self,
        objective: Objective,
        x0: torch.Tensor,
        goal: Goal,
        budget: Budget,
        *,
        mask: torch.Tensor | None,
        generator: torch.Generator,
        callback: Callback | None,
        early_stop: bool,
    ) -> AttackResult:
        """The algorithm. ``goal`` is resolved (least-likely has targets); ``mask`` matches x0."""
