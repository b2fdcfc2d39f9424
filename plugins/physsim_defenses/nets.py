"""The small networks behind MagNet and Defense-GAN, and the image domains they know.

A domain network sees what the classifier sees: images of the classifier's input size. The
digits are grey replicated to RGB, so their networks work on one channel and give it back as
three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Domain:
    """An image domain: the input size and channels its networks were trained on."""

    name: str
    input_size: tuple[int, int]
    channels: int

    def to_net(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> the network's (B, channels, H, W)."""
        return x.mean(1, keepdim=True) if self.channels == 1 else x

    def from_net(self, y: torch.Tensor) -> torch.Tensor:
        """The network's (B, channels, H, W) -> (B, 3, H, W) images."""
        return y.expand(-1, 3, -1, -1) if self.channels == 1 else y


DOMAINS: dict[str, Domain] = {"digits": Domain("digits", (8, 8), 1)}


class MagNetAE(nn.Module):
    """MagNet's convolutional autoencoder (Meng and Chen 2017, arXiv:1705.09064, MNIST
    "detector I"): 3x3 sigmoid convolutions around one 2x2 average pool and upsampling.

    Shape:
        - Input: (B, channels, H, W) in [0, 1], H and W even.
        - Output: the reconstruction, same shape, in (0, 1).
    """

    def __init__(self, channels: int = 1, width: int = 16) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.Sigmoid()]

        self.net = nn.Sequential(
            *conv(channels, width), nn.AvgPool2d(2), *conv(width, width),
            *conv(width, width), nn.Upsample(scale_factor=2, mode="nearest"),
            *conv(width, width), *conv(width, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> MagNetAE:
        return cls(int(meta["channels"]), int(meta["width"]))


class Generator(nn.Module):
    """Defense-GAN's generator for small images: an MLP from a Gaussian latent to pixels.

    Shape:
        - Input: (B, latent) standard normal.
        - Output: (B, channels, H, W) in (0, 1).
    """

    def __init__(self, latent: int, channels: int, size: tuple[int, int],
                 hidden: int = 256) -> None:
        super().__init__()
        self.latent = latent
        self.shape = (channels, *size)
        self.net = nn.Sequential(
            nn.Linear(latent, hidden // 2), nn.LeakyReLU(0.2),
            nn.Linear(hidden // 2, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, channels * size[0] * size[1]), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)
        return out.view(-1, *self.shape)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Generator:
        h, w = meta["input_size"]
        return cls(int(meta["latent"]), int(meta["channels"]), (h, w), int(meta["hidden"]))
