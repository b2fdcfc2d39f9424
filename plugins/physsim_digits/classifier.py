"""The registered ``digits_cnn`` classifier with its shipped weights."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from physsim_models.weights import load_classifier

from physsim.classifier import Classifier
from physsim.options import Options
from physsim.options import Options as OptionsModel
from physsim_digits.data import _require_sklearn, load_digits_split


class DigitsOptions(Options):
    """Options of ``digits_cnn``.

    Attributes:
        weights: a ``.pt`` file to use instead of the shipped one (metadata beside it).
    """

    weights: Path | None = None


class DigitsClassifier(Classifier):
    """A small CNN on the scikit-learn 8×8 digits (RGB input, grey replicated), 10 classes."""

    name = "digits_cnn"
    Options = DigitsOptions

    @classmethod
    def create(cls, options: Mapping[str, Any] | OptionsModel | None = None) -> DigitsClassifier:
        opts = cls.parse(options)
        # The classifier itself does not need scikit-learn, but it is useless without the data,
        # and the extra is what makes the pairing explicit.
        _require_sklearn()
        path = opts.weights or Path(str(files("physsim_digits"))) / "weights" / "digits_cnn.pt"
        return load_classifier(cls, Path(path), "digits_cnn")

    @classmethod
    def heldout(cls, n: int, seed: int, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor, None]:
        """``n`` images of the test split (a seeded subset; all of it when n is larger)."""
        images, labels = load_digits_split("test", device)
        if n < len(labels):
            pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
            images, labels = images[pick.to(images.device)], labels[pick.to(labels.device)]
        return images, labels, None
