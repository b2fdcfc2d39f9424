"""The contract every classifier keeps."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from physsim.classifier import Classifier
from physsim.errors import UserError


class ClassifierContract:
    """A classifier takes (B, 3, H, W) in [0, 1], exposes labels and input size, is in eval mode
    with frozen parameters, lets gradients reach its input, and rejects a wrong shape.

    Set ``classifier_class``; optionally ``options``.
    """

    classifier_class: ClassVar[type[Classifier]]
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> Classifier:
        # a classmethod: pytest deprecates class-scoped fixtures defined on instances
        return cls.classifier_class.create(cls.options)

    def _images(self, model: Classifier, n: int = 2) -> torch.Tensor:
        h, w = model.input_size
        return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(0))

    def test_has_name_and_kind(self) -> None:
        assert self.classifier_class.name
        assert self.classifier_class.kind == "classifier"

    def test_options_reject_unknown_keys(self) -> None:
        with pytest.raises(UserError, match="physsim_no_such_option"):
            self.classifier_class.create({**self.options, "physsim_no_such_option": 1})

    def test_outputs_logits_for_labels(self, model: Classifier) -> None:
        out = model(self._images(model))
        assert out.shape == (2, model.num_classes) == (2, len(model.labels))
        assert torch.isfinite(out).all()

    def test_eval_mode_and_frozen(self, model: Classifier) -> None:
        assert not model.training
        model.train()
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())

    def test_gradient_reaches_input(self, model: Classifier) -> None:
        x = self._images(model).requires_grad_(True)
        model(x).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0

    def test_resizes_other_sizes(self, model: Classifier) -> None:
        h, w = model.input_size
        x = torch.rand(1, 3, h * 2, w * 2, generator=torch.Generator().manual_seed(1))
        assert model(x).shape == (1, model.num_classes)

    def test_rejects_wrong_channels(self, model: Classifier) -> None:
        h, w = model.input_size
        with pytest.raises(UserError, match="3, H, W"):
            model(torch.rand(1, 1, h, w))

    def test_deterministic(self, model: Classifier) -> None:
        x = self._images(model)
        assert torch.equal(model(x), model(x))
