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


def depthwise(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve sample i of (n, C, H, W) with kernel i of (n, kh, kw), reflecting at borders.

    All samples run as one grouped convolution (groups = n C).
    """
    n, c, h, w = images.shape
    kh, kw = kernels.shape[-2:]
    ph, pw = kh // 2, kw // 2
    # reflection needs a border narrower than the image; wider ones repeat the edge
    mode = "reflect" if ph < h and pw < w else "replicate"
    x = F.pad(images, (pw, pw, ph, ph), mode=mode).reshape(1, n * c, h + 2 * ph, w + 2 * pw)
    weight = kernels.to(images.dtype).repeat_interleave(c, 0).unsqueeze(1)
    return F.conv2d(x, weight, groups=n * c).view(n, c, h, w)
