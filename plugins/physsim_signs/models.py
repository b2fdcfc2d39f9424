"""The two sign-recognition networks: a LISA-CNN-like baseline and a small residual net.

Both map normalised images to logits; resizing and normalisation belong to the
:class:`physsim.classifier.Classifier` that wraps them.
"""

from __future__ import annotations

import torch
from torch import nn


class LisaCNN(nn.Module):
    """The LISA-CNN of the RP2 paper (Eykholt et al. 2018, arXiv:1707.08945), at 32×32.

    Three convolutions (64 8×8 stride 2, 128 6×6 stride 2, 128 5×5) and one fully connected
    layer, as in the cleverhans model the paper trained; dropout before the last layer is the
    only addition (the training set is rendered, and it curbs memorising the renderer).

    Shape:
        - Input: (B, 3, 32, 32), normalised.
        - Output: (B, num_classes) logits.
    """

    input_size = (32, 32)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 8, stride=2, padding=3), nn.ReLU(),   # 16×16 ("same")
            nn.Conv2d(64, 128, 6, stride=2), nn.ReLU(),            # 6×6 ("valid")
            nn.Conv2d(128, 128, 5), nn.ReLU(),                     # 2×2
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128 * 2 * 2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


class _Block(nn.Module):
    """A basic residual block (He et al. 2016): two 3×3 convolutions and a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.body(x) + self.shortcut(x))
        return out


class SignResNet(nn.Module):
    """A small residual network for 64×64 sign crops (about 0.7 M parameters).

    ResNet-18's shape at a size a CPU trains in minutes: a stride-2 3×3 stem, four single-block
    stages (24, 48, 96, 192 channels; the last three halve the resolution), global average
    pooling and one linear layer.

    Shape:
        - Input: (B, 3, 64, 64), normalised (other sizes work through the global pooling).
        - Output: (B, num_classes) logits.
    """

    input_size = (64, 64)
    widths = (24, 48, 96, 192)
    strides = (1, 2, 2, 2)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        w = self.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU())
        self.stages = nn.Sequential(*(_Block(cin, cout, s) for cin, cout, s
                                      in zip((w[0], *w[:-1]), w, self.strides)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(w[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.stages(self.stem(x)))
        return out
