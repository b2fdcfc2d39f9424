"""Stickers: the connected regions of a run's mask, their cut outlines and printable images.

A sticker is one 8-connected region of ``mask.png`` (inside the object's face). Its cut outline
follows the region's pixel edges (traced with OpenCV ``findContours`` on the region upsampled,
so the line sits at most 0.1 mm inside the true edge); its image carries a bleed: the sticker's
own edge colours extended a little past the outline, so a cut slightly outside the line shows no
white paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

#: a run is a sticker attack when its mask covers at most this fraction of the face
STICKER_MAX_FRACTION = 0.5
#: regions smaller than this are speckle, not stickers anyone could cut out
MIN_STICKER_PX = 4
#: colour printed past the cut outline
BLEED_MM = 1.0
#: the traced outline lies at most this far inside the region's pixel edge
OUTLINE_TOLERANCE_MM = 0.1


@dataclass(frozen=True)
class Sticker:
    """One sticker, numbered in reading order (top to bottom, then left to right).

    Attributes:
        id: 1-based number printed beside it.
        bbox_px: (x, y, width, height) of the region in artefact pixels.
        region: the region inside ``bbox_px``, shape (height, width), bool.
        outline_px: the cut outline, shape (N, 2), (x, y) in artefact pixel coordinates
            (pixel ``i`` spans ``[i, i + 1]``).
    """

    id: int
    bbox_px: tuple[int, int, int, int]
    region: np.ndarray
    outline_px: np.ndarray

    @property
    def area_px(self) -> int:
        return int(self.region.sum())


def sticker_fraction(mask: np.ndarray, alpha: np.ndarray) -> float:
    """Share of the object's face (alpha > 0) that the mask covers."""
    face = alpha > 0
    return float((mask & face).sum() / max(int(face.sum()), 1))


def _outline(region: np.ndarray, upsample: int) -> np.ndarray:
    """The outer outline of a bool region, in its own pixel coordinates (edges at integers)."""
    big = np.repeat(np.repeat(region, upsample, axis=0), upsample, axis=1).astype(np.uint8)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    longest = max(contours, key=cv2.contourArea)
    # contour points are the centres of boundary pixels of the upsampled grid
    return (longest[:, 0, :].astype(np.float64) + 0.5) / upsample


def find_stickers(mask: np.ndarray, mm_per_px: float) -> list[Sticker]:
    """The stickers of a (H, W) bool mask, in reading order; specks are dropped.

    Args:
        mask: where the stickers are, already restricted to the object's face.
        mm_per_px: physical size of one pixel, to trace outlines within
            :data:`OUTLINE_TOLERANCE_MM`.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    upsample = min(8, max(1, math.ceil(mm_per_px / (2 * OUTLINE_TOLERANCE_MM))))
    keep = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= MIN_STICKER_PX]
    keep.sort(key=lambda k: (stats[k, cv2.CC_STAT_TOP], stats[k, cv2.CC_STAT_LEFT]))
    stickers = []
    for i, k in enumerate(keep, start=1):
        x, y, w, h = (int(v) for v in stats[k, :4])
        region = labels[y:y + h, x:x + w] == k
        outline = _outline(region, upsample) + np.array([x, y], np.float64)
        stickers.append(Sticker(i, (x, y, w, h), region, outline))
    return stickers


def _bleed(rgb: np.ndarray, region: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Grow ``region`` by ``steps`` pixels, each new pixel the mean of its grown neighbours."""
    filled = region.astype(np.float32)
    colour = rgb.astype(np.float32) * filled[..., None]
    for _ in range(steps):
        num = cv2.boxFilter(colour, -1, (3, 3), normalize=False)
        den = cv2.boxFilter(filled, -1, (3, 3), normalize=False)
        grow = (den > 0) & (filled == 0)
        colour[grow] = num[grow] / den[grow][:, None]
        filled[grow] = 1.0
    return colour, filled > 0


def sticker_image(rgba: np.ndarray, sticker: Sticker, bleed_px: int) -> Image.Image:
    """The sticker's pixels with ``bleed_px`` of bleed on every side, as an RGBA image.

    The image covers ``bbox_px`` grown by ``bleed_px``; alpha is 0 outside the bled region.
    The bleed repeats the sticker's own edge colours, not the face's around it.
    """
    x, y, w, h = sticker.bbox_px
    b = bleed_px
    padded = np.pad(rgba[..., :3], ((b, b), (b, b), (0, 0)), mode="edge")
    rgb = padded[y:y + h + 2 * b, x:x + w + 2 * b]
    colour, alpha = _bleed(rgb, np.pad(sticker.region, b), b)
    out = np.dstack([np.clip(colour + 0.5, 0, 255), alpha * 255.0]).astype(np.uint8)
    return Image.fromarray(out, "RGBA")
