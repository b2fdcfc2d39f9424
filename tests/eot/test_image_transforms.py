"""Every image-space transform keeps the transform contract (replay, range, gradcheck)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from physsim.eot.jpeg import Jpeg
from physsim.eot.lighting import Lighting
from physsim.eot.photo import Defocus, GaussianBlur, MotionBlur, SensorNoise
from physsim.eot.printer import Printer
from physsim.testing import TransformContract


class TestPrinterContract(TransformContract):
    transform_class = Printer
    options: ClassVar[dict[str, Any]] = {"ink_jitter": [0.0, 0.05]}


class TestLightingContract(TransformContract):
    transform_class = Lighting


class TestDefocusContract(TransformContract):
    transform_class = Defocus


class TestDiskDefocusContract(TransformContract):
    transform_class = Defocus
    options: ClassVar[dict[str, Any]] = {"shape": "disk", "sigma_px": [0.5, 1.0]}


class TestGaussianBlurContract(TransformContract):
    transform_class = GaussianBlur


class TestMotionBlurContract(TransformContract):
    transform_class = MotionBlur
    options: ClassVar[dict[str, Any]] = {"length_px": [1.0, 3.0]}


class TestSensorNoiseContract(TransformContract):
    transform_class = SensorNoise
    options: ClassVar[dict[str, Any]] = {"poisson_scale": [0.0, 0.01],
                                         "gaussian_std": [0.005, 0.01]}


class TestJpegContract(TransformContract):
    transform_class = Jpeg


@pytest.mark.parametrize("cls", [Printer, Lighting, Defocus, GaussianBlur, MotionBlur,
                                 SensorNoise, Jpeg])
def test_float64_in_float64_out(cls: type) -> None:
    t = cls()
    p = t.sample(2, torch.Generator().manual_seed(0))
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert t.apply(x, p).dtype == torch.float64


def test_neutral_lighting_is_the_identity() -> None:
    t = Lighting({"exposure_stops": 0, "contrast": 1, "gamma": 1, "kelvin": 6500, "shadow": 0})
    x = 0.05 + 0.9 * torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(t.apply(x, t.sample(2, torch.Generator().manual_seed(0))), x)


def test_exposure_is_a_linear_light_gain() -> None:
    t = Lighting({"exposure_stops": 1, "contrast": 1, "gamma": 1, "kelvin": 6500, "shadow": 0})
    x = torch.full((1, 3, 4, 4), 0.3)
    y = t.apply(x, t.sample(1, torch.Generator().manual_seed(0)))
    # one stop doubles linear light: 0.3 ** 2.2 * 2 back to display space
    torch.testing.assert_close(y, torch.full_like(x, (0.3**2.2 * 2) ** (1 / 2.2)))


def test_warm_light_tints_orange() -> None:
    t = Lighting({"exposure_stops": 0, "contrast": 1, "gamma": 1, "kelvin": 3000, "shadow": 0})
    y = t.apply(torch.full((1, 3, 4, 4), 0.5), t.sample(1, torch.Generator().manual_seed(0)))
    r, g, b = y[0, :, 0, 0].tolist()
    assert r > g > b
