"""Photo effects: blur against OpenCV, kernels that do not depend on the batch, sensor noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from physsim.eot.base import PX_SCALE
from physsim.eot.photo import Defocus, MotionBlur, SensorNoise, gaussian_blur
from physsim.eot.rng import normal_field, uniform_field, uniform_fields


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


@pytest.mark.parametrize("other", [6.0, 45.0])
def test_kernels_depend_only_on_their_own_sample(other: float) -> None:
    # the same sample blurred alone and beside a much larger blur: identical, also when the
    # larger one is cut at the window (its border mode used to switch every sample's borders
    # from reflected to repeated, so a chunk's images depended on its other samples)
    x = _image(size=24)[..., :20].expand(2, -1, -1, -1)
    for t, key in ((Defocus(), "sigma_px"), (Defocus({"shape": "disk"}), "sigma_px"),
                   (MotionBlur(), "length_px")):
        p = t.sample(2, torch.Generator().manual_seed(0))
        p[key] = torch.tensor([0.7, other])
        both = t.apply(x, p)
        alone = t.apply(x[:1], {k: v[:1] for k, v in p.items()})
        torch.testing.assert_close(both[:1], alone)


def test_depthwise_refuses_a_kernel_too_wide_to_reflect() -> None:
    from physsim.eot import ops

    with pytest.raises(ValueError, match="too wide to reflect"):
        ops.depthwise(torch.rand(1, 3, 8, 12), torch.ones(1, 17, 17))


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


def test_fields_hashed_together_are_the_fields_hashed_alone() -> None:
    seeds = torch.tensor([0, 7, 2**24 - 1])
    fields = (((1, 6, 6), 0), ((2, 3), 5), ((4,), 0))
    together = uniform_fields(seeds, fields, torch.float64)
    for (shape, stream), field in zip(fields, together, strict=True):
        assert torch.equal(field, uniform_field(seeds, shape, stream, torch.float64))
    # element j of a stream is the same whatever the field's shape; another stream differs
    assert torch.equal(together[0].flatten(1)[:, :4], together[2])
    assert not torch.equal(together[1], uniform_field(seeds, (2, 3), 0, torch.float64))


def test_large_noise_fields_fall_back_to_hashing() -> None:
    big = normal_field(torch.tensor([1, 2]), (3, 300, 300))
    assert abs(big.mean().item()) < 0.01 and big.std().item() == pytest.approx(1.0, rel=0.02)
    assert torch.equal(normal_field(torch.tensor([2]), (3, 300, 300)), big[1:])


def test_wide_kernels_go_through_the_fft_with_the_same_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import physsim.eot.ops as ops

    x = _image(size=24).expand(3, -1, -1, -1).contiguous()
    kernels = torch.rand(3, 9, 9, generator=torch.Generator().manual_seed(1))
    kernels = kernels / kernels.sum((1, 2), keepdim=True)
    direct = ops.depthwise(x, kernels)
    monkeypatch.setattr(ops, "FFT_ABOVE", 3)
    torch.testing.assert_close(ops.depthwise(x, kernels), direct, atol=1e-5, rtol=0)
    # kernels wider than the image (edges repeated rather than reflected)
    wide = torch.rand(3, 31, 31, generator=torch.Generator().manual_seed(2))
    wide = wide / wide.sum((1, 2), keepdim=True)
    monkeypatch.setattr(ops, "FFT_ABOVE", 99)
    direct = ops.depthwise(x, wide)
    monkeypatch.setattr(ops, "FFT_ABOVE", 3)
    torch.testing.assert_close(ops.depthwise(x, wide), direct, atol=1e-5, rtol=0)
    small = torch.rand(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    k = torch.rand(2, 5, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: ops.depthwise(v, k), (small,))


@pytest.mark.parametrize("t", [Defocus({"sigma_px": 1.0}), Defocus({"shape": "disk"}),
                               MotionBlur({"length_px": 3.0})])
def test_blur_of_a_far_object_is_cut_at_the_window(t: Defocus | MotionBlur) -> None:
    # an object a few hundredths of a camera pixel wide, enlarged to a 32 px window: one
    # camera pixel is thousands of window pixels; the blur is cut at the window's size (it
    # was a kernel thousands of pixels wide: minutes and gigabytes)
    p = t.sample(2, torch.Generator().manual_seed(0))
    x = _image(size=32).expand(2, -1, -1, -1)
    y = t.apply(x, {**p, PX_SCALE: torch.tensor([2000.0, 5000.0])})
    assert y.shape == x.shape and bool(torch.isfinite(y).all())
    assert bool((y.std((2, 3)) < 0.5 * x.std((2, 3))).all())  # blurred over the window


def test_kernels_are_never_wider_than_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import physsim.eot.photo as photo

    widths: list[int] = []
    real = photo.depthwise

    def spy(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        widths.append(kernels.shape[-1])
        return real(images, kernels)

    monkeypatch.setattr(photo, "depthwise", spy)
    x = _image(size=32).expand(2, -1, -1, -1)
    for t in (Defocus({"sigma_px": 1.0}), Defocus({"shape": "disk"}), MotionBlur()):
        p = t.sample(2, torch.Generator().manual_seed(0))
        t.apply(x, {**p, PX_SCALE: torch.tensor([2000.0, 1e6])})
    assert len(widths) == 3 and max(widths) <= 2 * 31 + 1
