"""Defenses in a run: building and checking them, the defended system, calibration, verdicts.

Athalye, Carlini and Wagner (2018, arXiv:1802.00420) showed that a defense is only evaluated
when the attacker knows it. physsim therefore attacks every defense twice and reports both:

- **non-adaptive**: the attack optimises against the undefended classifier; its result is then
  shown to the defended system (what a defense's authors usually report);
- **adaptive**: the defense sits inside the attacker's objective. Input transformations are
  differentiated through their BPDA stand-in (:meth:`InputTransform.approximate`), randomised
  ones are averaged over draws (EOT), detectors add a penalty for being flagged, and a model
  transformation is simply the model attacked.

A third, *plain white-box* run differentiates through the true transformation with ordinary
autograd (what an attacker who ignores BPDA gets). The objectives are in
:mod:`physsim.defense_objective`; the matrix and the gradient-masking checks built on these runs
in :mod:`physsim.defense_matrix`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

from physsim.attack import Goal
from physsim.classifier import Classifier
from physsim.defense import Defense, Detector, InputTransform, ModelTransform
from physsim.errors import UserError

if TYPE_CHECKING:
    from physsim.runner import Scenario
    from physsim.scene import DefenseRef, Scene

#: how the defended system runs: the real transformations without gradients ("true"), their
#: BPDA stand-ins ("bpda"), or the real ones under plain autograd ("naive")
Mode = Literal["true", "bpda", "naive"]
#: clean images a detector's threshold is calibrated on, and the seed offset they come from
CALIBRATION_IMAGES = 300
CALIBRATION_SEED_OFFSET = 17


@dataclass(frozen=True)
class BuiltDefense:
    """One scene entry: its reference, the defense and, for a model transformation, the
    classifier it produced (loaded and checked when the scenario is built)."""

    ref: DefenseRef
    defense: Defense
    classifier: Classifier | None = None


def build_defenses(scene: Scene, classifier: Classifier) -> tuple[BuiltDefense, ...]:
    """Instantiate and check every defense of ``scene`` before any work starts.

    Raises:
        UserError: an unknown name or bad option, weights missing or corrupt, a defense that
            does not fit the classifier's input, or a detector without calibration data.
    """
    from physsim.plugins import lookup

    if scene.defenses and scene.patch is not None:
        raise UserError("defenses are evaluated on object and data scenes, not patch scenes",
                        "defenses")
    built = []
    for i, ref in enumerate(scene.defenses):
        where = f"defenses[{i}] ({ref.name})"
        try:
            defense: Defense = lookup("defense", ref.name, f"defenses[{i}].name")(ref.options)
            check = getattr(defense, "check", None)
            if callable(check):
                check(classifier)
            out = defense.apply(classifier) if isinstance(defense, ModelTransform) else None
        except UserError as exc:
            raise UserError(exc.message if exc.where and ref.name in exc.where else str(exc),
                            where) from None
        clf_cls = lookup("classifier", scene.classifier.name, "classifier.name")
        if isinstance(defense, Detector) and getattr(clf_cls, "heldout", None) is None:
            raise UserError(f"a detector needs clean calibration images, and classifier "
                            f"{scene.classifier.name!r} provides no held-out data", where)
        built.append(BuiltDefense(ref, defense, out))
    return tuple(built)


@dataclass
class DefendedSystem:
    """A classifier with input transformations in front and detectors beside it.

    Attributes:
        name: what the reports call it ("none" for the undefended classifier).
        classifier: the classifier (after any model transformation).
        transforms: applied in order before the classifier.
        detectors: each sees the input (before the transformations).
        fpr: per detector, the false-positive rate its threshold is calibrated to.
        kind: the defense kind, for the reports.
        scales: per detector, the spread of clean scores (the penalty's unit).
    """

    name: str
    classifier: Classifier
    transforms: list[InputTransform] = field(default_factory=list)
    detectors: list[Detector] = field(default_factory=list)
    fpr: list[float] = field(default_factory=list)
    kind: str = "none"
    scales: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, built: Sequence[BuiltDefense], base: Classifier) -> DefendedSystem:
        """The system made of ``built`` defenses around ``base``."""
        system = cls("+".join(label(b.ref) for b in built) or "none", base)
        for b in built:
            if b.classifier is not None:
                system.classifier = b.classifier
            if isinstance(b.defense, InputTransform):
                system.transforms.append(b.defense)
            elif isinstance(b.defense, Detector):
                system.detectors.append(b.defense)
                system.fpr.append(b.ref.fpr)
        kinds = {b.defense.defense_kind for b in built}
        system.kind = kinds.pop() if len(kinds) == 1 else ("combined" if kinds else "none")
        return system

    @property
    def randomized(self) -> bool:
        return any(t.randomized for t in self.transforms)

    def logits(self, x: torch.Tensor, mode: Mode = "true") -> torch.Tensor:
        """(N, 3, H, W) images -> (N, C) logits of the defended classifier."""
        for t in self.transforms:
            if mode == "bpda":
                x = t.approximate(x)
            elif mode == "naive":
                y = t.transform(x)
                # a transform that leaves autograd (a codec, an optimisation) gives a naive
                # attacker a zero gradient, which is what "plain white-box" means here
                x = y if y.requires_grad or not x.requires_grad else y + 0 * x
            else:
                with torch.no_grad():
                    x = t.transform(x)
        return self.classifier(x)

    def calibrate(self, clean: torch.Tensor) -> None:
        """Set every detector's threshold on ``clean`` images at its false-positive rate."""
        self.scales = []
        for det, fpr in zip(self.detectors, self.fpr):
            det.calibrate(clean, self.classifier, fpr)
            with torch.no_grad():
                scores = det.score(clean, self.classifier).float()
            self.scales.append(float(scores.std().clamp(min=1e-8)))

    def flagged(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) bool: some detector flags the input."""
        out = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        with torch.no_grad():
            for det in self.detectors:
                out |= det.detect(x, self.classifier)
        return out

    def penalty(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) differentiable cost of being flagged: zero well below every threshold, growing
        with the score above it (in units of the clean scores' spread)."""
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for det, scale in zip(self.detectors, self.scales):
            assert det.threshold is not None
            total = total + ((det.score(x, self.classifier) - det.threshold) / scale
                             + 0.5).clamp(min=0)
        return total


def label(ref: DefenseRef) -> str:
    """A defense's name in the reports, with its options (``bit_depth(bits=2)``) and a
    detector's false-positive rate when it is not the default 0.05 (``magnet_detector(fpr=
    0.4)``), so that one defense listed twice with different settings stays two rows."""
    items = dict(ref.options)
    if ref.fpr != type(ref).model_fields["fpr"].default:
        items["fpr"] = ref.fpr
    opts = ",".join(f"{k}={v}" for k, v in sorted(items.items()))
    return f"{ref.name}({opts})" if opts else ref.name


def calibration_images(sc: Scenario, exclude: torch.Tensor | None) -> torch.Tensor:
    """Clean held-out images for detector calibration, disjoint from ``exclude`` (the images
    the run evaluates on, so the measured false-positive rate is a held-out one)."""
    from physsim.plugins import lookup

    clf_cls = lookup("classifier", sc.scene.classifier.name, "classifier.name")
    heldout = getattr(clf_cls, "heldout", None)
    if heldout is None:  # build_defenses refused this already; a bug if reached
        raise RuntimeError("calibration needs a classifier with held-out data")
    seed = sc.scene.evaluation.seed + CALIBRATION_SEED_OFFSET
    images = heldout(CALIBRATION_IMAGES, seed, sc.device)[0]
    if exclude is not None and exclude.shape[1:] == images.shape[1:]:
        # a random projection tells images apart without comparing every pair of pixels
        w = torch.randn(images[0].numel(), generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64).to(images.device)
        keys = images.flatten(1).double() @ w
        taken = exclude.flatten(1).double().to(images.device) @ w
        keep = ~(keys.unsqueeze(1) - taken.unsqueeze(0)).abs().lt(1e-9).any(1)
        images = images[keep]
    if len(images) < 20:
        raise UserError(f"only {len(images)} clean images are left for calibration",
                        "defenses")
    return images


def systems_for(sc: Scenario, exclude: torch.Tensor | None = None) -> list[DefendedSystem]:
    """The undefended system and one per scene defense, detectors calibrated."""
    built: tuple[BuiltDefense, ...] = sc.defenses
    systems = [DefendedSystem.of([], sc.classifier)]
    systems += [DefendedSystem.of([b], sc.classifier) for b in built]
    if any(s.detectors for s in systems):
        clean = calibration_images(sc, exclude)
        for s in systems:
            s.calibrate(clean)
    return systems


def judge(system: DefendedSystem, x: torch.Tensor, y: torch.Tensor, goal: Goal
          ) -> dict[str, torch.Tensor]:
    """Show ``x`` to the deployed system: per input, (pred, flagged, achieved, success)."""
    with torch.no_grad():
        logits = system.logits(x, "true")
    flagged = system.flagged(x)
    achieved = goal.achieved(logits.unsqueeze(1))[:, 0]
    pred = logits.argmax(-1)
    return {"pred": pred, "flagged": flagged, "achieved": achieved,
            "success": achieved & ~flagged, "robust": (pred == y) | flagged}
