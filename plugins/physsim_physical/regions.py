"""Turning a sensitivity map into K printable sticker regions (RP2's mask extraction)."""

from __future__ import annotations

import cv2
import numpy as np
import torch


def sticker_regions(sensitivity: torch.Tensor, allowed: torch.Tensor, area_fraction: float,
                    stickers: int) -> torch.Tensor:
    """The K most sensitive compact blobs inside ``allowed``, covering <= ``area_fraction``.

    The map is smoothed (a sticker is a blob one can cut out, not speckle), thresholded,
    closed, and its K components carrying the most sensitivity are kept; the threshold is
    found by bisection so that the stickers use as much of the area budget as they can.

    Args:
        sensitivity: (H, W) non-negative map (e.g. |delta| of an L1-regularised pass).
        allowed: (H, W) 0/1 region the stickers must stay in.
        area_fraction: the stickers' total area as a fraction of ``allowed``'s area.
        stickers: K, the number of separate stickers.

    Returns:
        (H, W) float 0/1 mask on the same device as ``sensitivity``.
    """
    region = allowed.detach().float().cpu().numpy() > 0.5
    h, w = region.shape
    k = max(3, (min(h, w) // 24) | 1)
    s = cv2.GaussianBlur(sensitivity.detach().float().cpu().numpy(), (k, k), 0) * region
    budget = area_fraction * region.sum()
    best = np.zeros_like(region)
    if budget < 1 or s.max() <= 0:
        return torch.from_numpy(best.astype(np.float32)).to(sensitivity.device)
    values = np.sort(s[region])[::-1]
    lo, hi = 0.0, 1.0  # the fraction of the region above the threshold
    for _ in range(14):
        mid = (lo + hi) / 2
        blobs = _blobs(s, region, values[min(int(mid * len(values)), len(values) - 1)], k,
                       stickers)
        if blobs.sum() <= budget:
            best, lo = blobs, mid
        else:
            hi = mid
    return torch.from_numpy(best.astype(np.float32)).to(sensitivity.device)


def _blobs(s: np.ndarray, region: np.ndarray, thresh: float, k: int, stickers: int) -> np.ndarray:
    """The K components of (s >= thresh), closed, carrying the most sensitivity."""
    blobs = ((s >= thresh) & region).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    blobs = cv2.morphologyEx(blobs, cv2.MORPH_CLOSE, kernel)
    _, labels = cv2.connectedComponents(blobs, connectivity=8)
    mass = np.bincount(labels.ravel(), weights=s.ravel())
    mass[0] = -1.0  # label 0 is the background
    keep = np.argsort(mass)[::-1][:stickers]
    keep = keep[mass[keep] > 0]
    out: np.ndarray = np.isin(labels, keep) & region
    return out


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean anisotropic total variation of (B, C, H, W) -> (B,)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return dx + dy


def quantize(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Each pixel of (B, 3, H, W) to its nearest palette colour; palette (P, 3)."""
    flat = x.permute(0, 2, 3, 1).reshape(-1, 3)
    idx = torch.cdist(flat, palette.to(flat)).argmin(1)
    return palette.to(flat)[idx].view(x.shape[0], x.shape[2], x.shape[3], 3).permute(0, 3, 1, 2)

