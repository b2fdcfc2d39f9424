"""Small batched image operations shared by the transforms, chosen for their CPU cost.

A 1x1 convolution with three channels goes through oneDNN's layout conversions and costs about
twenty times a batched matrix product on a CPU, so colour matrices use :func:`mix_channels`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mix_channels(images: torch.Tensor, matrix: torch.Tensor,
                 bias: torch.Tensor | None = None) -> torch.Tensor:
    """``matrix @ pixel + bias`` at every pixel.

    Args:
        images: (n, C, H, W).
        matrix: (C', C), or (n, C', C) one per sample.
        bias: (C',), or (n, C') one per sample.
    """
    n, c, h, w = images.shape
    flat = images.reshape(n, c, h * w)
    m = matrix.to(images.dtype).expand(n, -1, -1)
    if bias is None:
        out = torch.bmm(m, flat)
    else:
        b = bias.to(images.dtype)
        out = torch.baddbmm(b.view(-1, b.shape[-1], 1).expand(n, -1, 1), m, flat)
    return out.view(n, -1, h, w)


#: Kernels wider than this many pixels go through the FFT: a direct convolution costs the
#: kernel's area per pixel (a blur as wide as a 224 px window would take minutes per batch).
FFT_ABOVE = 33


def depthwise(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve sample i of (n, C, H, W) with kernel i of (n, kh, kw) (odd sizes), reflecting at
    borders.

    All samples run as one grouped convolution (groups = n C), or, for kernels wider than
    :data:`FFT_ABOVE`, as one batched FFT product. A kernel's half-width must be less than the
    image's side, which reflection needs (a border mode chosen from the batch's widest kernel
    would make one sample's borders depend on the others in its batch).
    """
    n, c, h, w = images.shape
    kh, kw = kernels.shape[-2:]
    ph, pw = kh // 2, kw // 2
    if ph >= h or pw >= w:
        raise ValueError(f"a {kh}x{kw} kernel is too wide to reflect at the borders of "
                         f"{h}x{w} images: cut its radius below the image's side")
    padded = F.pad(images, (pw, pw, ph, ph), mode="reflect")
    if max(kh, kw) > FFT_ABOVE:
        return _fft_correlate(padded, kernels.to(images.dtype), (h, w))
    x = padded.reshape(1, n * c, h + 2 * ph, w + 2 * pw)
    weight = kernels.to(images.dtype).repeat_interleave(c, 0).unsqueeze(1)
    return F.conv2d(x, weight, groups=n * c).view(n, c, h, w)


def _fft_correlate(padded: torch.Tensor, kernels: torch.Tensor,
                   size: tuple[int, int]) -> torch.Tensor:
    """What ``conv2d`` computes (a correlation, valid part) of padded (n, C, H', W') with
    kernel i of (n, kh, kw) for sample i, through one circular correlation per image: the
    valid part never wraps around."""
    hp, wp = padded.shape[-2:]
    kh, kw = kernels.shape[-2:]
    spectrum = torch.fft.rfft2(F.pad(kernels, (0, wp - kw, 0, hp - kh))).conj().unsqueeze(1)
    out = torch.fft.irfft2(torch.fft.rfft2(padded) * spectrum, s=(hp, wp))
    return out[..., :size[0], :size[1]].contiguous()
