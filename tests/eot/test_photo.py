"""Photo effects: blur against OpenCV, kernels that do not depend on the batch, sensor noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from physsim.eot.base import PX_SCALE
from physsim.eot.photo import Defocus, MotionBlur, SensorNoise, gaussian_blur
from physsim.eot.rng import normal_field, uniform_field


def _image(seed: int = 0, size: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size, size),
                                        mode="nearest")
    return x


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.3])
def test_gaussian_blur_matches_cv2(sigma: float) -> None:
    x = _image()
    k = 2 * int(np.ceil(3 * sigma - 1e-6)) + 1
    ref = cv2.GaussianBlur(x[0].permute(1, 2, 0).numpy(), (k, k), sigma, sigma,
                           borderType=cv2.BORDER_REFLECT_101)
    out = gaussian_blur(x, torch.tensor([sigma]))[0].permute(1, 2, 0).numpy()
    assert np.abs(out - ref).max() < 1e-5


def test_defocus_converts_camera_pixels_to_window_pixels() -> None:
    x = _image()
    t = Defocus({"sigma_px": 2.0})
    p = t.sample(1, torch.Generator().manual_seed(0))
    halved = t.apply(x, {**p, PX_SCALE: torch.tensor([0.5])})
    torch.testing.assert_close(halved, gaussian_blur(x, torch.tensor([1.0])))


def test_kernels_depend_only_on_their_own_sample() -> None:
    # the same sample blurred alone and beside a much larger blur: identical
    x = _image().expand(2, -1, -1, -1)
    for t, key in ((Defocus(), "sigma_px"), (Defocus({"shape": "disk"}), "sigma_px"),
                   (MotionBlur(), "length_px")):
        p = t.sample(2, torch.Generator().manual_seed(0))
        p[key] = torch.tensor([0.7, 6.0])
        both = t.apply(x, p)
        alone = t.apply(x[:1], {k: v[:1] for k, v in p.items()})
        torch.testing.assert_close(both[:1], alone)


@pytest.mark.parametrize("t", [Defocus({"shape": "disk", "sigma_px": 1.5}),
                               MotionBlur({"length_px": 4.0})])
def test_blurs_keep_flat_images_and_mean_brightness(t: Defocus | MotionBlur) -> None:
    p = t.sample(2, torch.Generator().manual_seed(0))
    flat = torch.full((2, 3, 20, 20), 0.4)
    torch.testing.assert_close(t.apply(flat, p), flat)
    x = _image()
    y = t.apply(x.expand(2, -1, -1, -1), p)
    assert (y.mean((2, 3)) - x.mean((2, 3))).abs().max() < 0.02


def test_motion_blur_streaks_along_its_angle() -> None:
    dot = torch.zeros(1, 1, 21, 21)
    dot[..., 10, 10] = 1.0
    t = MotionBlur()
    horizontal = t.apply(dot, {"length_px": torch.tensor([8.0]), "angle_rad": torch.tensor([0.0])})
    assert horizontal[0, 0, 10].gt(0.05).sum() >= 7  # spread along the row
    assert horizontal[0, 0, :, 10].gt(0.05).sum() == 1  # not along the column


def test_sensor_noise_has_the_poisson_gaussian_variance() -> None:
    t = SensorNoise({"poisson_scale": 0.01, "gaussian_std": 0.02})
    p = t.sample(4, torch.Generator().manual_seed(0))
    x = torch.full((4, 3, 64, 64), 0.5)
    resid = t.apply(x, p) - x
    expected = (0.01 * 0.5 + 0.02**2) ** 0.5
    assert resid.std().item() == pytest.approx(expected, rel=0.05)
    assert abs(resid.mean().item()) < 0.005
    # four times smaller in the window: averaged over 4 x 4 camera pixels
    shrunk = t.apply(x, {**p, PX_SCALE: torch.full((4,), 0.25)}) - x
    assert shrunk.std().item() == pytest.approx(expected / 4, rel=0.05)


def test_noise_fields_are_a_function_of_the_seed_only() -> None:
    seeds = torch.tensor([3, 99, 3])
    u = uniform_field(seeds, (2, 5, 7))
    assert torch.equal(u[0], u[2]) and not torch.equal(u[0], u[1])
    assert torch.equal(uniform_field(seeds[1:2], (2, 5, 7)), u[1:2])
    assert u.min() > 0 and u.max() < 1
    z = normal_field(torch.arange(8), (3, 32, 32))
    assert abs(z.mean().item()) < 0.02 and z.std().item() == pytest.approx(1.0, rel=0.03)


def test_large_noise_fields_fall_back_to_hashing() -> None:
    big = normal_field(torch.tensor([1, 2]), (3, 300, 300))
    assert abs(big.mean().item()) < 0.01 and big.std().item() == pytest.approx(1.0, rel=0.02)
    assert torch.equal(normal_field(torch.tensor([2]), (3, 300, 300)), big[1:])
