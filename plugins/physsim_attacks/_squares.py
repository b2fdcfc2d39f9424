"""Square geometry for the Square attack (Andriushchenko et al. 2020, arXiv:1912.00049):
random windows inside the mask's bounding box, and the L2 variant's centre-weighted patterns,
initialisation and mass-moving update. Everything is batched over inputs, one window each.
"""

from __future__ import annotations

import torch

from physsim.perturbation import apply_mask, rand, randint


def bounds(x0: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, 4) top, left, height, width of the region the mask allows (the whole image if None)."""
    b, _, h, w = x0.shape
    if mask is None:
        return torch.tensor([0, 0, h, w], device=x0.device).expand(b, 4)
    allowed = mask.amax(1) > 0
    r, c = allowed.any(2), allowed.any(1)
    top, left = r.float().argmax(1), c.float().argmax(1)
    bottom = h - r.flip(1).float().argmax(1)
    right = w - c.flip(1).float().argmax(1)
    return torch.stack([top, left, (bottom - top).clamp(min=1), (right - left).clamp(min=1)], 1)


def window(box: torch.Tensor, p: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """(n, 3) top, left, side of one random square per input inside its box, of area
    ``p * box area`` (at least one pixel)."""
    n = box.shape[0]
    side = (p * box[:, 2] * box[:, 3]).sqrt().round().clamp(min=1)
    side = torch.minimum(side, torch.minimum(box[:, 2], box[:, 3]).to(side))
    top = box[:, 0] + (rand((n,), gen, like=like) * (box[:, 2] - side + 1)).floor()
    left = box[:, 1] + (rand((n,), gen, like=like) * (box[:, 3] - side + 1)).floor()
    return torch.stack([top, left, side], 1)


def coords(win: torch.Tensor, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates relative to each window's corner: two (n, H, W) tensors."""
    h, w = shape[-2], shape[-1]
    rows = torch.arange(h, device=win.device, dtype=win.dtype).view(1, h, 1)
    cols = torch.arange(w, device=win.device, dtype=win.dtype).view(1, 1, w)
    return rows - win[:, 0].view(-1, 1, 1), cols - win[:, 1].view(-1, 1, 1)


def inside(win: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(n, 3) windows -> (n, 1, H, W) bool."""
    i, j = coords(win, shape)
    s = win[:, 2].view(-1, 1, 1)
    return ((i >= 0) & (i < s) & (j >= 0) & (j < s)).unsqueeze(1)


def signs(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform random +-1 of ``shape``, like ``like``."""
    return randint(2, shape, gen, device=like.device).to(like.dtype) * 2 - 1


def _channel_norm(t: torch.Tensor) -> torch.Tensor:
    return t.pow(2).sum((2, 3), keepdim=True).sqrt()


def centre_pattern(win: torch.Tensor, flip: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The paper's L2 update shape: two halves of opposite sign, each a stack of nested
    rectangles weighted ``1 / (k + 1)^2`` (heaviest at its centre), unit L2 norm.

    Args:
        win: (n, 3) top, left, side.
        flip: (n,) bool; True splits the square into left/right instead of top/bottom halves.
        shape: the image shape (..., H, W).

    Returns:
        (n, 1, H, W), zero outside the window.
    """
    i, j = coords(win, shape)
    s = win[:, 2].view(-1, 1, 1)
    within = (i >= 0) & (i < s) & (j >= 0) & (j < s)
    f = flip.view(-1, 1, 1)
    i, j = torch.where(f, j, i), torch.where(f, i, j)
    half = torch.div(s, 2, rounding_mode="floor")
    upper = i < half
    rows = torch.where(upper, half, s - half)
    ii = torch.where(upper, i, i - half)
    ring = torch.maximum((ii - rows // 2).abs(), (j - s // 2).abs())
    # weight of a cell: sum of 1/(k+1)^2 over the rectangles k >= ring that contain it
    k = torch.arange(int(max(shape[-2:])) + 2, device=win.device, dtype=win.dtype)
    tail = torch.cat([k.new_zeros(1), (1 / (k + 1) ** 2).cumsum(0)])
    last = (s // 2 + 1).long().clamp(max=len(tail) - 1).expand_as(ring)
    val = tail[last] - tail[ring.long().clamp(0, len(tail) - 1)]
    val = torch.where(within, val, torch.zeros_like(val))
    top_n = (val * upper).pow(2).sum((1, 2), keepdim=True).sqrt().clamp(min=1e-12)
    bottom_n = (val * ~upper).pow(2).sum((1, 2), keepdim=True).sqrt().clamp(min=1e-12)
    out = torch.where(upper, val / top_n, -val / bottom_n)
    out = out / out.pow(2).sum((1, 2), keepdim=True).sqrt().clamp(min=1e-12)
    return out.unsqueeze(1)


def _to_norm(delta: torch.Tensor, eps: float) -> torch.Tensor:
    n = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
    return delta * (eps / n).view(-1, 1, 1, 1)


def l2_init(x0: torch.Tensor, eps: float, box: torch.Tensor, gen: torch.Generator,
            mask: torch.Tensor | None) -> torch.Tensor:
    """A 5 x 5 grid of centre patterns with random signs per channel, scaled to norm eps."""
    n, c = x0.shape[:2]
    side = (torch.minimum(box[:, 2], box[:, 3]) // 5).clamp(min=1).to(x0.dtype)
    delta = torch.zeros_like(x0)
    no_flip = torch.zeros(n, dtype=torch.bool, device=x0.device)
    for ti in range(5):
        for tj in range(5):
            win = torch.stack([box[:, 0] + ti * side, box[:, 1] + tj * side, side], 1)
            delta += centre_pattern(win, no_flip, x0.shape) * signs((n, c, 1, 1), gen, x0)
    return _to_norm(apply_mask(delta, mask), eps)


def l2_step(delta: torch.Tensor, win1: torch.Tensor, win2: torch.Tensor, eps: float,
            gen: torch.Generator, mask: torch.Tensor | None) -> torch.Tensor:
    """Move the mass of windows 1 and 2 (and the unused budget) into a new pattern in window 1.

    Per channel, the new content of window 1 is a fresh centre pattern with a random sign
    plus the old content's direction, scaled so its norm is the old norm of both windows
    plus an equal share of ``eps^2 - ||delta||^2``; window 2 is cleared, and the whole
    perturbation is rescaled to norm eps.

    Shape:
        - delta: (n, C, H, W), masked, norm eps; output: same.
    """
    n, c = delta.shape[:2]
    in1, in2 = inside(win1, delta.shape), inside(win2, delta.shape)
    union = in1 | in2
    unused = (eps**2 - delta.flatten(1).pow(2).sum(1)).clamp(min=0).view(n, 1, 1, 1)
    mass = _channel_norm(delta * union)
    old = delta * in1 / (_channel_norm(delta * in1) + 1e-10)
    flip = randint(2, (n,), gen, device=delta.device).bool()
    eta = centre_pattern(win1, flip, delta.shape) * signs((n, c, 1, 1), gen, delta) + old
    eta = eta / _channel_norm(eta).clamp(min=1e-12) * (unused / c + mass**2).sqrt()
    new = torch.where(union, torch.zeros_like(delta), delta) + eta * in1
    return _to_norm(apply_mask(new, mask), eps)
