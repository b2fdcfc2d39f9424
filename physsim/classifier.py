"""The classifier contract shared by built-in and third-party classifiers.

A classifier takes RGB images in [0, 1], shape (B, 3, H, W), owns its resizing and
normalisation, exposes its labels and input size, is in eval mode with frozen parameters, and
lets gradients flow to its input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from physsim.errors import UserError
from physsim.options import Options, parse_options
from physsim.options import Options as OptionsModel


class Classifier(nn.Module):
    """Wraps a network that maps normalised images to logits.

    Args:
        net: module mapping (B, 3, h, w) normalised images to (B, C) logits.
        labels: class names, C of them, in logit order.
        input_size: (h, w) the network expects; inputs of another size are resized.
        mean: per-channel mean subtracted after resizing.
        std: per-channel standard deviation divided after subtracting the mean.
        name: the registered name, used in error messages.

    Shape:
        - Input: (B, 3, H, W), float, values in [0, 1].
        - Output: (B, C) logits.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "classifier"
    Options: ClassVar[type[Options]] = Options

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        labels: Sequence[str],
        input_size: tuple[int, int],
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        self.net = net
        self.labels = tuple(labels)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    @classmethod
    def create(cls, options: Mapping[str, Any] | OptionsModel | None = None) -> Classifier:
        """Build the classifier from its options (loading weights). Subclasses override."""
        raise NotImplementedError(f"{cls.__name__}.create")

    @classmethod
    def parse(cls, options: Mapping[str, Any] | OptionsModel | None) -> Any:
        """Validate ``options`` against ``cls.Options`` (one-line error naming the field)."""
        return parse_options(cls.Options, options, f"classifier {cls.name!r} options")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def train(self, mode: bool = True) -> Classifier:
        # The contract is eval mode; training happens in scripts on the bare network.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(
                f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}",
                f"classifier {self.name or type(self).__name__!r}",
            )
        if not x.is_floating_point():
            raise UserError(f"expected float images in [0, 1], got dtype {x.dtype}", self.name)
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False,
                              antialias=True)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        logits: torch.Tensor = self.net(x)
        return logits
