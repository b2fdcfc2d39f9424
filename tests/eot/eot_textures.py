"""Small seeded textures for the EOT tests."""

from __future__ import annotations

import torch


def make_texture(size: int = 64, seed: int = 0, shaped: bool = True) -> torch.Tensor:
    """(4, size, size) RGBA: smooth colour with a red bar, alpha a disc (or opaque)."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(size, size),
                                          mode="bilinear", align_corners=False)[0]
    rgb[:, size // 4: size // 2, size // 4: 3 * size // 4] = torch.tensor([0.9, 0.1, 0.1]).view(
        3, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - (size - 1) / 2) ** 2 + (xx - (size - 1) / 2) ** 2).sqrt()
    alpha = (size / 2 - r).clamp(0, 1) if shaped else torch.ones(size, size)
    return torch.cat([rgb.clamp(0, 1), alpha.unsqueeze(0)], 0)
