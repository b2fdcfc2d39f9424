"""The mask library: where on an object's face an attack may put its perturbation.

Masks are drawn in texture coordinates as fractions of the texture's width and height, then
intersected with the object's own perturbable region. The shapes follow Eykholt et al. 2018
(arXiv:1707.08945): two rectangular "graffiti" stickers, sticker strips shaped as words, a
full-face "subtle poster", and "camouflage art" patches.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from physsim.errors import UnknownNameError, UserError

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of width and height


def _rects(h: int, w: int, rects: list[Rect]) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in rects:
        m[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = 1.0
    return m


def graffiti(h: int, w: int) -> np.ndarray:
    """Two horizontal sticker bars, above and below the legend (RP2's graffiti stickers)."""
    return _rects(h, w, [(0.22, 0.19, 0.78, 0.26), (0.22, 0.74, 0.78, 0.81)])


def word_strips(h: int, w: int) -> np.ndarray:
    """Sticker strips shaped as two short words ("LOVE" above, "HATE" below the legend)."""
    m = np.zeros((h, w), np.uint8)
    scale = w / 260.0
    for word, y in (("LOVE", 0.27), ("HATE", 0.85)):
        (tw, _), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, scale, max(1, int(scale * 6)))
        cv2.putText(m, word, (int((w - tw) / 2), int(y * h)), cv2.FONT_HERSHEY_DUPLEX, scale,
                    255, max(1, int(scale * 6)), cv2.LINE_AA)
    return (m > 127).astype(np.float32)


def subtle_poster(h: int, w: int) -> np.ndarray:
    """The whole face: a full-size printed poster with a low-amplitude perturbation."""
    return np.ones((h, w), np.float32)


def camouflage(h: int, w: int) -> np.ndarray:
    """Abstract "camouflage art" patches scattered over the face."""
    return _rects(h, w, [(0.15, 0.15, 0.35, 0.30), (0.62, 0.20, 0.85, 0.34),
                         (0.12, 0.66, 0.30, 0.84), (0.66, 0.68, 0.86, 0.85)])


MASKS: dict[str, Callable[[int, int], np.ndarray]] = {
    "graffiti": graffiti,
    "word_strips": word_strips,
    "subtle_poster": subtle_poster,
    "camouflage": camouflage,
}


def make_mask(name: str, shape: tuple[int, int], where: str = "object.mask") -> torch.Tensor:
    """The named mask at texture size (h, w) -> (1, h, w) float tensor of 0/1."""
    if name not in MASKS:
        raise UnknownNameError("mask", name, list(MASKS), where)
    h, w = shape
    if h < 8 or w < 8:
        raise UserError(f"texture too small for a mask: {h}x{w}", where)
    return torch.from_numpy(MASKS[name](h, w)).unsqueeze(0)
