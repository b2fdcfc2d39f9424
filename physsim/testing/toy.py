"""A tiny linear classifier and images for contract tests: seconds on a CPU, no weights."""

from __future__ import annotations

import torch
from torch import nn

from physsim.classifier import Classifier


def linear_toy_classifier(num_classes: int = 3, size: int = 8, seed: int = 0) -> Classifier:
    """A seeded linear classifier over (B, 3, size, size) images in [0, 1].

    Being linear, its minimal perturbations are known in closed form, which is what attack
    tests compare against.
    """
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(3 * size * size, num_classes)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / size)
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.1)
    net = nn.Sequential(nn.Flatten(), lin)
    labels = [f"class{i}" for i in range(num_classes)]
    return Classifier(net, labels, (size, size))


def toy_images(n: int = 4, size: int = 8, seed: int = 1) -> torch.Tensor:
    """(n, 3, size, size) images in [0.2, 0.8], so attacks have room in both directions."""
    g = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(n, 3, size, size, generator=g)
