"""Input transformations in front of the classifier: JPEG, bit depth, median, thresholding.

Feature squeezing (Xu, Evans and Qi 2018, arXiv:1704.01155) reduces the input space an
attacker can use: fewer colour levels (bit depth), local smoothing (median filter). JPEG
compression as a defense is from Dziugaite et al. 2016 (arXiv:1608.00853) and Guo et al. 2018
(arXiv:1711.00117); binary thresholding of the pixels is the classic MNIST input squeezer
(e.g. Papernot et al. 2016's discussion, and Xu et al.'s 1-bit setting).

None of them is robust against an adaptive attacker: rounding and thresholding have zero
gradient almost everywhere, JPEG has no useful one, so a naive attacker sees nothing while
BPDA (Athalye, Carlini and Wagner 2018, arXiv:1802.00420) differentiates through the identity
(``approximate`` of :class:`physsim.defense.InputTransform`) or, for JPEG, the differentiable
codec of :mod:`physsim.eot.jpeg`.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from physsim.defense import InputTransform
from physsim.eot.jpeg import jpeg as differentiable_jpeg
from physsim.options import Options


def reduce_bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantise every value to ``2**bits`` evenly spaced levels.

    Shape:
        - Input: (B, C, H, W), values in [0, 1].
        - Output: same shape, at most ``2**bits`` distinct values in [0, 1].
    """
    levels = 2**bits - 1
    return torch.round(x.clamp(0, 1) * levels) / levels


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Median over each ``size`` x ``size`` window, edges reflected (not zero-padded, so the
    border does not darken). An even window (Xu et al. use 2 x 2 on MNIST) reaches one pixel
    further right and down than left and up, and takes the lower of the two middle values.

    Shape:
        - Input: (B, C, H, W), H and W larger than ``size // 2``.
        - Output: same shape. The median picks one input value per window, so autograd
          routes the gradient to that value: exact almost everywhere.
    """
    b, c, h, w = x.shape
    lo, hi = (size - 1) // 2, size // 2
    padded = F.pad(x, (lo, hi, lo, hi), mode="reflect")
    windows = F.unfold(padded.reshape(b * c, 1, h + size - 1, w + size - 1), size)
    return windows.median(dim=1).values.view(b, c, h, w)


def jpeg_codec(x: torch.Tensor, quality: int) -> torch.Tensor:
    """The real libjpeg round trip (via OpenCV), 8 bits per channel, as a deployed defense runs.

    libjpeg codes one image per call, so this loops over the batch; it is the defense's true,
    non-differentiable forward pass only (the differentiable stand-in is batched).

    Shape:
        - Input: (B, 3, H, W) in [0, 1].
        - Output: same shape and device.
    """
    arr = (x.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    out = np.empty_like(arr)
    for i, img in enumerate(arr):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), params)
        if not ok:  # pragma: no cover - OpenCV only fails on empty images
            raise RuntimeError("OpenCV could not encode the image as JPEG")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None  # we just encoded it
        out[i] = decoded[..., ::-1]
    return torch.from_numpy(out).to(x.device, x.dtype).permute(0, 3, 1, 2) / 255.0


class JpegDefense(InputTransform):
    """JPEG compression at a fixed quality (Dziugaite et al. 2016; Guo et al. 2018).

    BPDA uses the differentiable codec of :mod:`physsim.eot.jpeg` at the same quality
    (``bpda: codec``) or the identity (``bpda: identity``).
    """

    name = "jpeg_defense"

    class Options(Options):
        quality: int = Field(50, ge=1, le=100, description="JPEG quality of the round trip")
        bpda: Literal["codec", "identity"] = "codec"

    options: Options

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return jpeg_codec(x, self.options.quality)

    def approximate(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.bpda == "identity":
            return super().approximate(x)
        q = torch.full((x.shape[0],), float(self.options.quality), device=x.device)
        smooth = differentiable_jpeg(x, q)
        # forward the true codec, backward the differentiable one
        return smooth + (self.transform(x) - smooth).detach()


class BitDepth(InputTransform):
    """Bit-depth reduction, a feature squeezer (Xu et al. 2018); BPDA: straight-through."""

    name = "bit_depth"

    class Options(Options):
        bits: int = Field(3, ge=1, le=8, description="bits kept per colour channel")

    options: Options

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return reduce_bit_depth(x, self.options.bits)


class MedianFilter(InputTransform):
    """Median smoothing, a feature squeezer (Xu et al. 2018). Differentiable almost everywhere,
    so BPDA is the filter itself."""

    name = "median_filter"

    class Options(Options):
        size: int = Field(2, ge=2, le=9, description="window side in pixels")

    options: Options

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return median_filter(x, self.options.size)

    def approximate(self, x: torch.Tensor) -> torch.Tensor:
        return median_filter(x, self.options.size)


class Threshold(InputTransform):
    """Binary thresholding of every channel: ``1[x > level]``; BPDA: straight-through."""

    name = "threshold"

    class Options(Options):
        level: float = Field(0.5, gt=0, lt=1, description="values above it become 1, else 0")

    options: Options

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.options.level).to(x.dtype)
