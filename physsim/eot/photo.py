"""The camera's photo effects: defocus, motion blur and sensor noise, in camera pixels.

(Plus ``gaussian_blur``, a plain Gaussian blur in window pixels.)

Sizes are in pixels of the full camera frame. Inside a pipeline the window the classifier sees
is a resized crop of that frame, so each transform receives ``px_scale`` (window pixels per
camera pixel) and converts: a 2 px blur of a crop shrunk fourfold is half a window pixel, and
noise averaged over 4x4 camera pixels has a quarter of the standard deviation.

Every sample has its own kernel; all of them run as one grouped convolution (or, when the
widest is over 33 px, as one FFT product). A kernel's support depends only on its own sample's
params, never on the rest of the batch, so a batch split into chunks gives the same images (to
float32 rounding: a chunk may take the other of the two ways).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch

from physsim.eot.base import PX_SCALE, Params, Transform, require
from physsim.eot.ops import depthwise
from physsim.eot.ranges import Bounds, Pair, uniform
from physsim.eot.rng import draw_seeds, normal_field, require_seed
from physsim.options import Options


def _px_scale(params: Params, n: int, like: torch.Tensor) -> torch.Tensor:
    s = params.get(PX_SCALE)
    return torch.ones(n, dtype=like.dtype, device=like.device) if s is None else s.to(like.dtype)


def _offsets(radius: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """(n, 2 radius + 1) normalised Gaussians, each cut at its own ceil(3 sigma) (OpenCV's
    ``getGaussianKernel`` for that size); sigma 0 is the identity."""
    j = _offsets(radius, sigma).view(1, -1)
    s = sigma.view(-1, 1)
    k = torch.exp(-(j * j) / (2 * s * s).clamp(min=1e-12))
    k = k * (j.abs() <= torch.ceil(3 * s - 1e-6))
    k = torch.where(s > 1e-3, k, (j == 0).to(k.dtype))
    return k / k.sum(1, keepdim=True)


def disk_kernels(radius_px: torch.Tensor, radius: int) -> torch.Tensor:
    """(n, k, k) normalised discs with anti-aliased edges (a defocused lens's aperture)."""
    j = _offsets(radius, radius_px)
    dist = torch.sqrt(j.view(1, -1, 1) ** 2 + j.view(1, 1, -1) ** 2)
    k = (radius_px.view(-1, 1, 1) + 0.5 - dist).clamp(0, 1)
    return k / k.sum((1, 2), keepdim=True)


def line_kernels(length_px: torch.Tensor, angle_rad: torch.Tensor, radius: int) -> torch.Tensor:
    """(n, k, k) normalised anti-aliased segments of the given length and direction."""
    j = _offsets(radius, length_px)
    px, py = j.view(1, 1, -1), j.view(1, -1, 1)
    dx, dy = torch.cos(angle_rad).view(-1, 1, 1), torch.sin(angle_rad).view(-1, 1, 1)
    half = (length_px / 2).view(-1, 1, 1)
    # the nearest point of the segment: the projection on its line, clamped to its ends
    t = torch.maximum(torch.minimum(px * dx + py * dy, half), -half)
    dist = torch.sqrt((px - t * dx) ** 2 + (py - t * dy) ** 2)
    k = (1 - dist).clamp(min=0)
    return k / k.sum((1, 2), keepdim=True)


def _support(radius: float, images: torch.Tensor) -> int:
    """A kernel's radius in pixels, cut at one pixel less than the image's shorter side, the
    widest border :func:`~physsim.eot.ops.depthwise` can reflect: a blur wider than the image
    spreads the same pixels over it all. The cut depends on the image's size alone, so each
    sample's kernel and borders depend only on its own params, whatever the batch or chunk."""
    return min(math.ceil(radius), min(images.shape[-2:]) - 1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample Gaussian blur, sigma (n,) in pixels of ``images`` (cut at the image's size:
    see :func:`_support`)."""
    radius = _support(3 * float(sigma.max()) - 1e-6, images) if sigma.numel() else 0
    if radius <= 0:
        return images
    k = gaussian_kernels(sigma.to(images.dtype), radius)
    # one pass with the 2-D outer product: oneDNN runs small square depthwise kernels several
    # times faster than two 1-D passes
    return depthwise(images, k.unsqueeze(2) * k.unsqueeze(1))


class Defocus(Transform):
    """An out-of-focus lens: a Gaussian or disc point spread function, per sample.

    Params: ``sigma_px`` (n,), the PSF's standard deviation in camera pixels (a disc of radius
    2 sigma has the same spread).
    """

    name = "defocus"
    camera_pixels = True

    class Options(Options):
        sigma_px: Annotated[Pair, Bounds(ge=0, le=50)] = (0.0, 1.0)
        shape: Literal["gaussian", "disk"] = "gaussian"

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return {"sigma_px": uniform(self.options.sigma_px, n, generator)}

    def check_params(self, params: Params) -> None:
        require(params, "sigma_px", "between 0 and 50", lambda v: (v >= 0) & (v <= 50))

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        sigma = params["sigma_px"].to(images.dtype) * _px_scale(params, len(images), images)
        if self.options.shape == "gaussian":
            return gaussian_blur(images, sigma)
        radius = _support(2 * float(sigma.max()) + 0.5, images) if sigma.numel() else 0
        if radius <= 0:
            return images
        return depthwise(images, disk_kernels(2 * sigma, radius))


class GaussianBlur(Transform):
    """A Gaussian blur in the window's own pixels (not the camera's), per sample.

    Params: ``sigma_px`` (n,), window pixels. For a lens, prefer ``defocus``, whose sizes follow
    the camera.
    """

    name = "gaussian_blur"

    class Options(Options):
        sigma_px: Annotated[Pair, Bounds(ge=0, le=50)] = (0.0, 1.0)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return {"sigma_px": uniform(self.options.sigma_px, n, generator)}

    def check_params(self, params: Params) -> None:
        require(params, "sigma_px", "between 0 and 50", lambda v: (v >= 0) & (v <= 50))

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        return gaussian_blur(images, params["sigma_px"].to(images.dtype))


class MotionBlur(Transform):
    """Camera or object motion during the exposure: a straight streak per sample.

    Params: ``length_px`` (n,) in camera pixels, ``angle_rad`` (n,) the streak's direction.
    """

    name = "motion_blur"
    camera_pixels = True

    class Options(Options):
        length_px: Annotated[Pair, Bounds(ge=0, le=100)] = (0.0, 3.0)
        angle_deg: Annotated[Pair, Bounds(ge=-360, le=360)] = (0.0, 180.0)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        o = self.options
        return {"length_px": uniform(o.length_px, n, generator),
                "angle_rad": torch.deg2rad(uniform(o.angle_deg, n, generator))}

    def check_params(self, params: Params) -> None:
        require(params, "length_px", "between 0 and 100", lambda v: (v >= 0) & (v <= 100))
        # (a float32 draw of 360 degrees is a hair above 2 pi in float64)
        require(params, "angle_rad", "between -2 pi and 2 pi (-360 to 360 degrees)",
                lambda v: v.abs() <= 2 * math.pi + 1e-6)

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        length = params["length_px"].to(images.dtype) * _px_scale(params, len(images), images)
        if length.numel() == 0 or float(length.max()) < 1e-3:
            return images
        radius = _support(float(length.max()) / 2, images)
        k = line_kernels(length, params["angle_rad"].to(images.dtype), radius)
        return depthwise(images, k)


class SensorNoise(Transform):
    """Poisson-Gaussian sensor noise (Foi et al. 2008): variance ``a x + b**2`` at intensity x.

    Params: ``poisson_scale`` (a) and ``gaussian_std`` (b), (n,) each, for one camera pixel;
    ``seed`` (n,) int64, from which the noise field is a pure function (see
    :mod:`physsim.eot.rng`), so params replay the same noise in any chunk.
    """

    name = "sensor_noise"
    camera_pixels = True

    class Options(Options):
        poisson_scale: Annotated[Pair, Bounds(ge=0, le=1)] = (0.0, 0.01)
        gaussian_std: Annotated[Pair, Bounds(ge=0, le=1)] = (0.0, 0.02)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        o = self.options
        return {"poisson_scale": uniform(o.poisson_scale, n, generator),
                "gaussian_std": uniform(o.gaussian_std, n, generator),
                "seed": draw_seeds(n, generator)}

    def check_params(self, params: Params) -> None:
        for name in ("poisson_scale", "gaussian_std"):
            require(params, name, "between 0 and 1", lambda v: (v >= 0) & (v <= 1))
        require_seed(params)

    def prepare(self, params: Params, size: tuple[int, int], dtype: torch.dtype) -> Params:
        # the noise field: a function of the seed alone
        return {"prepared_noise": normal_field(params["seed"], (3, *size), dtype=dtype)}

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        n, dt = len(images), images.dtype
        # a window pixel averages 1 / px_scale**2 camera pixels when the crop is shrunk, which
        # divides the standard deviation by 1 / px_scale: fold it into the variance's terms
        shrink2 = _px_scale(params, n, images).clamp(max=1).view(-1, 1, 1, 1) ** 2
        a = params["poisson_scale"].to(dt).view(-1, 1, 1, 1) * shrink2
        b2 = params["gaussian_std"].to(dt).view(-1, 1, 1, 1) ** 2 * shrink2
        eps = params.get("prepared_noise")
        if eps is None or eps.shape != images.shape or eps.dtype != dt:
            eps = normal_field(params["seed"], tuple(images.shape[1:]), dtype=dt)
        std = torch.sqrt(torch.addcmul(b2, images, a).clamp(min=1e-8))
        return torch.addcmul(images, std, eps).clamp(0, 1)
