"""A small CNN for the 8×8 scikit-learn handwritten digits."""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """Two 3×3 convolutions, a 2×2 max-pool and two fully connected layers (about 150 k
    parameters): enough for ~98% on the 8×8 digits, small enough to train in seconds.

    Shape:
        - Input: (B, 3, 8, 8), normalised (the grey digit replicated to three channels).
        - Output: (B, num_classes) logits.
    """

    input_size = (8, 8)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out
