"""Differentiable JPEG (baseline, 4:2:0), cheap enough to sit inside every EOT step.

The codec follows libjpeg's default path: JFIF RGB -> YCbCr, 2x2 box-averaged chroma, 8x8 DCT,
the Annex K quantisation tables scaled by quality as libjpeg scales them, dequantisation, IDCT,
triangle ("fancy") chroma upsampling, YCbCr -> RGB. Rounding of the coefficients is the
polynomial approximation of Shin & Song (2017), ``round(x) + (x - round(x))**3``, whose
derivative is non-zero.

Why not ``kornia.enhance.jpeg_codec_differentiable`` (available as ``backend: kornia``): it
costs about half a ResNet-18 forward and backward pass on a batch of 32 windows of 64 px on a
CPU. Here all 8x8 blocks of a batch go through the DCT as the rows of one matrix product with
the 64 x 64 basis, and the colour conversions are batched matrix products; the codec is the
same.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from physsim.eot.base import Params, Transform, require
from physsim.eot.ops import mix_channels
from physsim.eot.ranges import Bounds, Pair, uniform
from physsim.options import Options

# ITU-T T.81 Annex K, natural (row-major) order, rows are vertical frequencies.
_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
         69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
         81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
           99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
_RGB_TO_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_YCC_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


@lru_cache(maxsize=16)
def dct_basis(dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """(64, 64) orthonormal 2-D DCT-II of an 8x8 block: row 8 u + v is the basis image (u, v)
    (u the vertical frequency), column 8 y + x the pixel; its transpose is the inverse.

    Cached per dtype and device (every EOT step uses it): do not modify the result in place."""
    x = torch.arange(8, dtype=torch.float64)
    u = x.view(-1, 1)
    # the scale factors in float64 for a float64 basis (orthonormal to 1e-15; with them
    # rounded to float32 it was 7e-8); any other basis keeps the float32-rounded ones it has
    # always been made with, so that float32 renders (and the classifiers trained on them)
    # do not change: the two differ by at most one float32 step, in 320 of 4096 entries
    exact = torch.float64 if dtype == torch.float64 else torch.float32
    scale = torch.where(u == 0, torch.tensor(math.sqrt(1 / 8), dtype=exact),
                        torch.tensor(math.sqrt(2 / 8), dtype=exact))
    d = torch.cos((2 * x + 1) * u * math.pi / 16) * scale
    return torch.kron(d, d).to(dtype=dtype, device=device)


@lru_cache(maxsize=8)
def _base_tables(device: torch.device) -> torch.Tensor:
    """The Annex K luma and chroma tables (2, 64), float64, made once per device."""
    return torch.tensor([_LUMA, _CHROMA], dtype=torch.float64, device=device)


@lru_cache(maxsize=16)
def _colour_matrices(dtype: torch.dtype, device: torch.device
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB -> YCbCr (3, 3) scaled to 255, its offset (3,), and the chroma part of
    YCbCr -> RGB (3, 2), made once per dtype and device."""
    fwd = torch.tensor(_RGB_TO_YCC, dtype=dtype, device=device) * 255
    offset = torch.tensor([-128.0, 0.0, 0.0], dtype=dtype, device=device)
    mix = torch.tensor(_YCC_TO_RGB, dtype=dtype, device=device)[:, 1:].contiguous()
    return fwd, offset, mix


def quant_tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n,) qualities in [1, 100] -> luma and chroma tables (n, 64), as libjpeg scales them."""
    q = quality.double().clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q).view(-1, 1, 1)
    base = _base_tables(quality.device)
    out = torch.floor((base * scale + 50) / 100).clamp(1, 255)
    return out[:, 0], out[:, 1]


def _round(x: torch.Tensor) -> torch.Tensor:
    """Rounding with a gradient: round(x) + (x - round(x))**3 (Shin & Song 2017), whose
    derivative is 3 (x - round(x))**2 (the rounded part's is zero, and is not computed)."""
    r = torch.round(x.detach())
    d = x - r
    return r + d * d * d


def _codec_plane(plane: torch.Tensor, table: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(n, c, H, W) level-shifted planes (H, W multiples of 8), (n, 64) table -> decoded."""
    n, c, h, w = plane.shape
    # every 8x8 block as a row of 64: one matrix product transforms them all
    blocks = plane.reshape(n, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)
    coef = blocks.reshape(n, -1, 64) @ basis.T
    q = table.to(plane.dtype).view(n, 1, 64)
    coef = _round(coef * (1 / q)) * q
    out = (coef @ basis).view(n, c, h // 8, w // 8, 8, 8).permute(0, 1, 2, 4, 3, 5)
    return out.reshape(n, c, h, w)


def jpeg(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Encode and decode images (n, 3, H, W) in [0, 1] at per-sample ``quality`` (n,)."""
    n, _, h, w = images.shape
    dt, dev = images.dtype, images.device
    fwd, offset, ycc_to_rgb = _colour_matrices(dt, dev)
    # RGB in [0, 1] -> level-shifted YCbCr in [-128, 128): the 255 scale folded into the matrix
    ycc = mix_channels(images, fwd, offset)
    # libjpeg fills partial MCUs (16 x 16 with 4:2:0) by repeating the edge pixels
    ph, pw = (-h) % 16, (-w) % 16
    if ph or pw:
        ycc = F.pad(ycc, (0, pw, 0, ph), mode="replicate")
    basis = dct_basis(dt, dev)
    luma_t, chroma_t = quant_tables(quality)
    y = _codec_plane(ycc[:, :1], luma_t, basis) + 128
    chroma = _codec_plane(F.avg_pool2d(ycc[:, 1:], 2), chroma_t, basis)
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    # every RGB channel is Y plus a mix of the chroma: (Y + M chroma) / 255 in one product
    mix = ycc_to_rgb.expand(n, 3, 2)
    hw = y.shape[-2] * y.shape[-1]
    rgb = torch.baddbmm(y.reshape(n, 1, hw).expand(n, 3, hw), mix, chroma.reshape(n, 2, hw),
                        beta=1 / 255, alpha=1 / 255)
    return rgb.view(n, 3, *y.shape[-2:])[..., :h, :w].clamp(0, 1)


class Jpeg(Transform):
    """JPEG compression by the camera or on the way to the classifier.

    Params: ``quality`` (n,) in [1, 100]. Applied at the window's resolution (an approximation:
    a camera compresses the full frame, whose 8x8 blocks the crop then resizes).
    """

    name = "jpeg"

    class Options(Options):
        quality: Annotated[Pair, Bounds(ge=1, le=100)] = (40.0, 95.0)
        backend: Literal["fast", "kornia"] = "fast"

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return {"quality": uniform(self.options.quality, n, generator)}

    def check_params(self, params: Params) -> None:
        require(params, "quality", "between 1 and 100", lambda v: (v >= 1) & (v <= 100))

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        quality = params["quality"].to(images.dtype)
        if self.options.backend == "kornia":
            from kornia.enhance import jpeg_codec_differentiable

            return jpeg_codec_differentiable(images, quality)
        return jpeg(images, quality)
