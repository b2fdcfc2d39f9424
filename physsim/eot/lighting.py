"""Light on the object: exposure, colour temperature, soft shadows, and the camera's tone curve.

Exposure, the illuminant's colour and shadows scale the light reaching the camera, i.e. they
multiply *linear* radiance. With images in a gamma-2.2 encoding, a linear gain g is the display
space gain g**(1/2.2), so the whole linear stage is one multiplication of the image by a factor
map computed from the params, and the image itself never goes through a power function there.
The tone stage (contrast about mid-grey, then a gamma) models the camera's varying rendering.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated

import torch
from pydantic import Field

from physsim.eot.base import Params, Transform, require
from physsim.eot.ranges import Bounds, Pair, uniforms
from physsim.options import Options

#: Wavelengths (nm) standing for the camera's red, green and blue channels.
_WAVELENGTHS_NM = (610.0, 550.0, 465.0)
#: Rec. 709 luma weights: a white-balance gain keeps luminance unchanged.
_LUMA = (0.2126, 0.7152, 0.0722)
_DISPLAY_GAMMA = 2.2


def kelvin_to_gain(kelvin: torch.Tensor) -> torch.Tensor:
    """(n,) colour temperatures -> (n, 3) linear RGB gains relative to daylight (6500 K).

    Planck's law at three representative wavelengths, normalised to unit luminance: a 3500 K
    lamp tints the object orange, 7500 K shade tints it blue.
    """
    lam, daylight, luma = _planck_constants(kelvin.device)
    rel = _planck(lam, kelvin.double()) / daylight
    return (rel / (rel * luma).sum(1, keepdim=True)).to(kelvin.dtype)


_C2 = 1.4387769e-2  # h c / k_B, metre kelvin


def _planck(lam: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Planck's law up to a constant factor, at wavelengths ``lam`` (m) and temperatures t."""
    return 1.0 / (lam**5 * torch.expm1(_C2 / (lam * t.view(-1, 1))))


@lru_cache(maxsize=8)
def _planck_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 wavelengths (3,), Planck's law at 6500 K there (1, 3), and the luma weights."""
    lam = torch.tensor(_WAVELENGTHS_NM, dtype=torch.float64, device=device) * 1e-9
    daylight = _planck(lam, torch.tensor([6500.0], device=device, dtype=torch.float64))
    return lam, daylight, torch.tensor(_LUMA, dtype=torch.float64, device=device)


def shading(params: Params, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """(n, 1, h, w) the fraction of light reaching each pixel: one soft-edged shadow per sample.

    The edge runs across the window at ``shadow_angle`` through ``shadow_offset`` (window
    half-sizes from the centre); ``shadow_softness`` is its width, from a crisp cast shadow to a
    gentle illumination gradient.
    """
    h, w = size
    dev = params["shadow"].device
    ys = torch.linspace(-1, 1, h, dtype=dtype, device=dev).view(1, h, 1)
    xs = torch.linspace(-1, 1, w, dtype=dtype, device=dev).view(1, 1, w)
    ang = params["shadow_angle"].to(dtype).view(-1, 1, 1)
    dist = xs * torch.cos(ang) + ys * torch.sin(ang) - params["shadow_offset"].to(dtype).view(
        -1, 1, 1)
    edge = torch.sigmoid(dist / params["shadow_softness"].to(dtype).view(-1, 1, 1))
    return (1 - params["shadow"].to(dtype).view(-1, 1, 1) * edge).unsqueeze(1)


class Lighting(Transform):
    """Exposure (stops), contrast, gamma, colour temperature (kelvin) and a soft shadow.

    Params (each (n,)): ``exposure_stops``, ``contrast``, ``gamma``, ``kelvin``, ``shadow``
    (strength, 0 = none), ``shadow_angle`` (radians), ``shadow_offset``, ``shadow_softness``.
    """

    name = "lighting"

    class Options(Options):
        exposure_stops: Annotated[Pair, Bounds(ge=-8, le=8)] = (-1.0, 1.0)
        contrast: Annotated[Pair, Bounds(gt=0, le=4)] = (0.8, 1.2)
        gamma: Annotated[Pair, Bounds(gt=0, le=4)] = (0.85, 1.15)
        kelvin: Annotated[Pair, Bounds(ge=1000, le=20000)] = (3500.0, 7500.0)
        shadow: Annotated[Pair, Bounds(ge=0, le=1)] = (0.0, 0.4)
        shadow_softness: Annotated[Pair, Bounds(gt=0, le=10)] = (0.05, 1.0)
        #: the fraction of the illuminant's colour cast the camera's white balance removes
        auto_white_balance: float = Field(0.5, ge=0, le=1)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        o = self.options
        return uniforms({"exposure_stops": o.exposure_stops, "contrast": o.contrast,
                         "gamma": o.gamma, "kelvin": o.kelvin, "shadow": o.shadow,
                         "shadow_angle": (0.0, 2 * math.pi), "shadow_offset": (-0.8, 0.8),
                         "shadow_softness": o.shadow_softness}, n, generator)

    def check_params(self, params: Params) -> None:
        # the options' limits (what a scene file may ask for)
        require(params, "exposure_stops", "between -8 and 8 stops",
                lambda v: (v >= -8) & (v <= 8))
        for name in ("contrast", "gamma"):
            require(params, name, "above 0 and at most 4", lambda v: (v > 0) & (v <= 4))
        require(params, "shadow_softness", "above 0 and at most 10",
                lambda v: (v > 0) & (v <= 10))
        require(params, "kelvin", "between 1000 and 20000 kelvin",
                lambda v: (v >= 1000) & (v <= 20000))
        require(params, "shadow", "between 0 and 1", lambda v: (v >= 0) & (v <= 1))

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        dt = images.dtype
        cast = kelvin_to_gain(params["kelvin"].to(dt)).pow(1 - self.options.auto_white_balance)
        gain = cast * torch.exp2(params["exposure_stops"].to(dt)).view(-1, 1)
        size = (images.shape[-2], images.shape[-1])
        # the display-space factor of a linear gain g is g ** (1 / 2.2); both parts are small
        factor = (gain.pow(1.0 / _DISPLAY_GAMMA).view(-1, 3, 1, 1)
                  * shading(params, size, dt).pow(1.0 / _DISPLAY_GAMMA))
        x = (images * factor).clamp(0, 1)
        c = params["contrast"].to(dt).view(-1, 1, 1, 1)
        x = torch.addcmul(0.5 * (1 - c), x, c).clamp(1e-4, 1)
        # the power's slope is infinite at 0: the clamp starts it a hair above
        return x.pow(params["gamma"].to(dt).view(-1, 1, 1, 1))
