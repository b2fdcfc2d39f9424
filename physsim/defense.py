"""The three kinds of defense: input transformation, detector, model transformation."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch

from physsim.component import Component
from physsim.errors import UserError

if TYPE_CHECKING:
    from physsim.classifier import Classifier


class Defense(Component):
    """Base of every defense; ``kind`` says which of the three it is."""

    kind = "defense"
    defense_kind: ClassVar[str] = ""


class InputTransform(Defense):
    """A transformation in front of the classifier (JPEG, bit depth, median filter...).

    ``transform`` may be non-differentiable. ``approximate`` is what an adaptive attacker
    differentiates through (BPDA, Athalye et al. 2018, arXiv:1802.00420); the default is the
    straight-through estimator: forward is the true transform, backward the identity.
    Randomised transforms set ``randomized = True`` so adaptive attacks add EOT.
    """

    defense_kind = "input_transform"
    randomized: ClassVar[bool] = False

    @abstractmethod
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> transformed images, same shape and range."""

    def approximate(self, x: torch.Tensor) -> torch.Tensor:
        """A differentiable stand-in for ``transform`` (straight-through by default)."""
        return x + (self.transform(x) - x).detach()


class Detector(Defense):
    """Flags adversarial inputs; the threshold is calibrated on clean data to a stated FPR."""

    defense_kind = "detector"
    threshold: float | None = None
    false_positive_rate: float | None = None

    @abstractmethod
    def score(self, x: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> (B,) scores, higher meaning more suspicious."""

    def calibrate(self, clean: torch.Tensor, classifier: Classifier, fpr: float = 0.05) -> float:
        """Set the threshold so that a fraction ``fpr`` of ``clean`` images is flagged."""
        if clean.numel() == 0:
            raise UserError("calibration needs clean images, got none", f"detector {self.name!r}")
        if not 0.0 < fpr < 1.0:
            raise UserError(f"false-positive rate must be in (0, 1), got {fpr}", self.name)
        with torch.no_grad():
            scores = self.score(clean, classifier).float()
        self.threshold = float(torch.quantile(scores, 1.0 - fpr))
        self.false_positive_rate = fpr
        return self.threshold

    def detect(self, x: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        """(B,) bool: True where the input is flagged. Needs :meth:`calibrate` first."""
        if self.threshold is None:
            raise UserError(
                "detector used without calibration data; call calibrate() with clean images",
                f"detector {self.name!r}",
            )
        return self.score(x, classifier) > self.threshold


class ModelTransform(Defense):
    """A training-time defense: produces a new classifier (with saved, loadable weights)."""

    defense_kind = "model_transform"

    @abstractmethod
    def apply(self, classifier: Classifier) -> Classifier:
        """Return the defended classifier (loading its trained weights; never training here)."""
