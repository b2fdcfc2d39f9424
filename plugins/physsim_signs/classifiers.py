"""The registered sign classifiers, ``lisa_cnn`` and ``sign_resnet``, with shipped weights."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import torch
from physsim_models.architectures import get_architecture
from physsim_models.weights import load_classifier

from physsim.classifier import Classifier
from physsim.options import Options
from physsim.options import Options as OptionsModel


def weights_dir() -> Path:
    """The folder of the shipped sign weights (``physsim_signs/weights``)."""
    return Path(str(files("physsim_signs"))) / "weights"


class SignClassifierOptions(Options):
    """Options of the sign classifiers.

    Attributes:
        weights: a ``.pt`` file to use instead of the shipped one; its ``.json`` metadata
            (classes, input size, normalisation, sha256) must sit beside it.
    """

    weights: Path | None = None


class SignClassifier(Classifier):
    """Base of the shipped sign classifiers: loads checked weights for ``architecture``."""

    Options = SignClassifierOptions
    architecture: ClassVar[str] = ""

    @classmethod
    def create(cls, options: Mapping[str, Any] | OptionsModel | None = None) -> SignClassifier:
        opts = cls.parse(options)
        path = opts.weights or weights_dir() / f"{cls.architecture}.pt"
        return load_classifier(cls, Path(path), cls.architecture)

    @classmethod
    def heldout(cls, n: int, seed: int, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """A fresh rendered test set at this classifier's input size.

        Returns:
            (images (n, 3, h, w), labels (n,), {"distance_m": (n,), "yaw_deg": (n,)}).
        """
        from physsim_signs.dataset import generate

        size = get_architecture(cls.architecture).input_size
        batch = generate(n, "test", seed, size, device=device)
        return batch.images, batch.labels, {"distance_m": batch.distance_m,
                                            "yaw_deg": batch.yaw_deg}


class LisaCNNClassifier(SignClassifier):
    """LISA-CNN (Eykholt et al. 2018) trained on rendered US signs, 32×32 input."""

    name = "lisa_cnn"
    architecture = "lisa_cnn"


class SignResNetClassifier(SignClassifier):
    """A small residual network trained on rendered US signs, 64×64 input."""

    name = "sign_resnet"
    architecture = "sign_resnet"
