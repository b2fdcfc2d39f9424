"""Procedural renderer of US traffic signs: deterministic RGBA textures at their true shapes.

Every sign in :data:`physsim_signs.catalog.SIGNS` is drawn with OpenCV from its MUTCD-like
specification (outline, border, colours, legend), supersampled and area-reduced, with alpha 0
outside the outline. Renders are cached in-process because attacks, datasets and previews ask
for the same textures over and over.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from physsim.errors import UnknownNameError, UserError
from physsim_signs.canvas import Canvas
from physsim_signs.catalog import LABELS, SIGNS, SignSpec

_BY_LABEL: dict[str, SignSpec] = {s.label: s for s in SIGNS}


def sign_spec(label: str) -> SignSpec:
    """The specification of sign class ``label``; an unknown label lists the known ones."""
    if label not in _BY_LABEL:
        raise UnknownNameError("sign class", label, list(LABELS))
    return _BY_LABEL[label]


@lru_cache(maxsize=128)
def _render_cached(label: str, size_px: int) -> torch.Tensor:
    spec = sign_spec(label)
    canvas = Canvas(spec.size_mm, size_px)
    spec.draw(canvas)
    return torch.from_numpy(canvas.result()).permute(2, 0, 1).contiguous()


def render_sign(label: str, size_px: int = 512) -> torch.Tensor:
    """Render sign class ``label`` with ``size_px`` pixels along its larger side.

    Args:
        label: a class name from :data:`physsim_signs.catalog.LABELS` (e.g. ``"stop"``).
        size_px: resolution of the larger side; the other follows the physical aspect ratio.

    Returns:
        A fresh (4, H, W) float32 tensor, straight RGBA in [0, 1], alpha 0 outside the sign.

    Shape:
        - Output: (4, H, W) with max(H, W) == size_px.
    """
    if not 16 <= size_px <= 4096:
        raise UserError(f"size_px must be in [16, 4096], got {size_px}", "render_sign")
    return _render_cached(label, int(size_px)).clone()


def render_downsampled(label: str, size_px: int, source_px: int = 512) -> torch.Tensor:
    """A small texture area-averaged from the ``source_px`` render (what datasets use).

    Drawing directly at 64 px would thin the strokes differently from the printed sign; reducing
    the full-size render keeps the small copy a faithful low-pass of the real texture.
    """
    big = _render_cached(label, source_px)
    h, w = big.shape[-2:]
    scale = size_px / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    rgba = big.unsqueeze(0)
    # Reduce premultiplied colour, as the canvas does, so edges do not pick up the black outside.
    pre = torch.cat([rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]], 1)
    small = F.interpolate(pre, size=size, mode="area")[0]
    alpha = small[3:]
    rgb = torch.where(alpha > 1e-6, small[:3] / alpha.clamp_min(1e-6), torch.zeros_like(small[:3]))
    return torch.cat([rgb.clamp(0, 1), alpha.clamp(0, 1)], 0)
