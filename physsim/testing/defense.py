"""The contract every defense keeps."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from physsim.classifier import Classifier
from physsim.defense import Defense, Detector, InputTransform, ModelTransform
from physsim.errors import UserError
from physsim.testing._common import _options_reject_unknown_keys
from physsim.testing.toy import linear_toy_classifier, toy_images


class DefenseContract:
    """A defense keeps shapes and ranges; an input transformation has a differentiable
    approximation for adaptive attacks; a detector calibrates to its false-positive rate and
    refuses to run uncalibrated; a model transformation returns a classifier.

    Set ``defense_class``, and optionally ``options``. Override ``make_classifier()`` (the
    linear toy classifier over 3x8x8 images by default) and ``make_images(n)`` (toy images in
    [0, 1] by default) to check the defense on your own model and data.
    """

    defense_class: ClassVar[type[Defense]]
    options: ClassVar[dict[str, Any]] = {}

    def make_classifier(self) -> Classifier:
        return linear_toy_classifier()

    def make_images(self, n: int = 40) -> torch.Tensor:
        return toy_images(n)

    def test_has_name_and_kind(self) -> None:
        assert self.defense_class.name
        assert self.defense_class.kind == "defense"
        assert self.defense_class.defense_kind in ("input_transform", "detector",
                                                   "model_transform")

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.defense_class, self.options)

    def test_behaviour(self) -> None:
        defense = self.defense_class(self.options)
        clf = self.make_classifier()
        x = self.make_images()
        if isinstance(defense, InputTransform):
            y = defense.transform(x)
            assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
            xg = x.clone().requires_grad_(True)
            clf(defense.approximate(xg)).sum().backward()
            assert xg.grad is not None and torch.isfinite(xg.grad).all()
            assert xg.grad.abs().sum() > 0
        elif isinstance(defense, Detector):
            with pytest.raises(UserError, match="calibrat"):
                defense.detect(x, clf)
            defense.calibrate(x, clf, fpr=0.1)
            flagged = defense.detect(x, clf).float().mean().item()
            assert flagged <= 0.1 + 1.0 / len(x)
        elif isinstance(defense, ModelTransform):
            out = defense.apply(clf)
            assert isinstance(out, Classifier)
            assert out(x[:2]).shape == (2, clf.num_classes)
        else:  # pragma: no cover - a new defense kind must extend this contract
            pytest.fail(f"unknown defense kind {defense.defense_kind!r}")
