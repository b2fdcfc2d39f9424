"""The one resampling: bilinear warp against OpenCV, mip-map prefilter against aliasing."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from eot_textures import make_texture

import physsim.eot.warp as warp_module
from physsim.eot.warp import (
    _plan,
    build_pyramid,
    footprint_lod,
    group_levels,
    group_levels_parts,
    premultiplied_pyramid,
    warp,
)


def _homography() -> np.ndarray:
    return np.array([[0.9, 0.12, 5.0], [-0.06, 1.05, 3.0], [0.0006, 0.0011, 1.0]])


def test_warp_matches_cv2_warp_perspective() -> None:
    tex = make_texture(64, shaped=False)[:3]
    m = _homography()
    ref = cv2.warpPerspective(tex.permute(1, 2, 0).numpy(), m, (70, 60),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out = warp(tex[None], torch.tensor(m)[None], (60, 70), prefilter=False, pairs=True)
    diff = np.abs(out[0].permute(1, 2, 0).numpy() - ref)[4:-4, 4:-4]
    assert diff.mean() <= 2 / 255, diff.mean() * 255
    assert diff.max() <= 4 / 255


def test_prefilter_is_inactive_at_full_scale() -> None:
    tex = make_texture(64, shaped=False)[None]
    m = torch.tensor([[1.0, 0, 2], [0, 1.0, 1], [0, 0, 1]], dtype=torch.float64)[None]
    assert footprint_lod(m, (64, 64)).item() == 0.0
    a = warp(tex, m, (48, 48), prefilter=True, pairs=True)
    b = warp(tex, m, (48, 48), prefilter=False, pairs=True)
    assert torch.equal(a, b)


def test_footprint_follows_scale_and_foreshortening() -> None:
    eighth = torch.diag(torch.tensor([0.125, 0.125, 1.0], dtype=torch.float64))[None]
    assert footprint_lod(eighth, (64, 64)).item() == 3.0
    # a plane turned by 60 degrees is shrunk by cos 60 = 1/2 along one axis: one level more
    squeezed = torch.diag(torch.tensor([0.0625, 0.125, 1.0], dtype=torch.float64))[None]
    assert abs(footprint_lod(squeezed, (64, 64)).item() - 4.0) < 1e-9


def test_levels_of_consecutive_parts_group_as_each_part_alone() -> None:
    """group_levels_parts gives each part the plan group_levels gives it alone, value for
    value: levels in order, sample indices within the part, the same weights."""
    lod = torch.tensor([0.0, 2.5, 9.0, 3.25, 1.0, 2.5, -1.0, 4.75, 3.0], dtype=torch.float64)
    sizes = [4, 1, 3, 1]
    plans = group_levels_parts(lod, 7, sizes)
    start = 0
    for n, plan in zip(sizes, plans, strict=True):
        alone = group_levels(lod[start:start + n], 7)
        assert [p[0] for p in plan] == [p[0] for p in alone]
        for (_, i, w), (_, ia, wa) in zip(plan, alone, strict=True):
            assert torch.equal(i, ia) and torch.equal(w, wa)
        start += n


def test_plan_blends_the_two_levels_around_each_footprint() -> None:
    # scales 1/8, 1/6, 1/4, 1/8 and 1/1000 (beyond the last level of a 64 px texture)
    scales = [0.125, 1 / 6, 0.25, 0.125, 0.001]
    m = torch.stack([torch.diag(torch.tensor([s, s, 1.0], dtype=torch.float64))
                     for s in scales])
    plan = _plan(m, (64, 64), True, None)
    lod = math.log2(6)  # the 1/6 view lies between levels 2 and 3
    got = {level: (idx.tolist(), wgt.tolist()) for level, idx, wgt in plan}
    assert list(got) == [2, 3, 6]
    assert got[2][0] == [1, 2]
    assert got[2][1] == pytest.approx([3 - lod, 1.0])
    assert got[3][0] == [0, 1, 3]
    assert got[3][1] == pytest.approx([1.0, lod - 2, 1.0])
    assert got[6] == ([4], [1.0])  # clamped to the 1 px level, no blend beyond it
    total = torch.zeros(len(scales), dtype=torch.float64)
    for _, idx, wgt in plan:
        total.index_add_(0, idx, wgt)
    assert torch.allclose(total, torch.ones_like(total))


def test_shared_and_paired_warps_agree() -> None:
    tex = torch.stack([make_texture(32, seed=1), make_texture(32, seed=2)])
    g = torch.Generator().manual_seed(0)
    m = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    m[:, :2, :2] *= (0.2 + torch.rand(3, generator=g, dtype=torch.float64)).view(3, 1, 1)
    shared = warp(tex, m, (16, 16))
    assert shared.shape == (2, 3, 4, 16, 16)
    for b in range(2):
        paired = warp(tex[b:b + 1].expand(3, -1, -1, -1), m, (16, 16), pairs=True)
        torch.testing.assert_close(shared[b], paired)


def test_pyramid_levels_are_box_averages() -> None:
    x = torch.rand(1, 2, 32, 24, generator=torch.Generator().manual_seed(3))
    levels = build_pyramid(x, 1, 3)
    assert sorted(levels) == [1, 2, 3]
    torch.testing.assert_close(levels[3], F.avg_pool2d(x, 8))
    assert levels[3].shape[-2:] == (4, 3)


@pytest.fixture(params=["one band", "a band per box row"])
def bands(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The premultiplied product formed all at once, or one row of boxes at a time."""
    if request.param != "one band":
        monkeypatch.setattr(warp_module, "_BAND_ELEMENTS", 1)


@pytest.mark.usefixtures("bands")
@pytest.mark.parametrize(("size", "first"), [((32, 24), 0), ((32, 24), 2), ((30, 22), 2)])
def test_premultiplied_pyramid_equals_the_pyramid_of_the_product(
        size: tuple[int, int], first: int) -> None:
    g = torch.Generator().manual_seed(5)
    rgb, alpha = torch.rand(2, 3, *size, generator=g), torch.rand(1, 1, *size, generator=g)
    want = build_pyramid(torch.cat([rgb * alpha, alpha.expand(2, -1, -1, -1)], 1), first, 4)
    cached = {i: build_pyramid(alpha, i, i)[i] for i in range(6)}
    for levels in (premultiplied_pyramid(rgb, alpha, first, 4),
                   premultiplied_pyramid(rgb, alpha, first, 4, cached)):
        assert sorted(levels) == sorted(want)
        for i in want:
            torch.testing.assert_close(levels[i], want[i])


@pytest.mark.usefixtures("bands")
def test_premultiplied_pyramid_gradients() -> None:
    g = torch.Generator().manual_seed(6)
    rgb = torch.rand(2, 3, 16, 8, generator=g, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(2, 1, 16, 8, generator=g, dtype=torch.float64, requires_grad=True)
    shared = torch.rand(1, 1, 16, 8, generator=g, dtype=torch.float64, requires_grad=True)

    def flat(levels: dict[int, torch.Tensor]) -> torch.Tensor:
        return torch.cat([v.flatten() for v in levels.values()])

    assert torch.autograd.gradcheck(lambda r, a: flat(premultiplied_pyramid(r, a, 2, 3)),
                                    (rgb, alpha))
    assert torch.autograd.gradcheck(lambda r, a: flat(premultiplied_pyramid(r, a, 1, 3)),
                                    (rgb, shared))


def test_prefilter_removes_aliasing_of_a_small_view() -> None:
    # a one-pixel checkerboard seen 17 times smaller: a camera would see flat grey
    size = 512
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(1, 3, size, size)
    s = 30 / size
    m = torch.tensor([[s * math.cos(0.3), -s * math.sin(0.3), 16.0],
                      [s * math.sin(0.3), s * math.cos(0.3), 8.0], [0, 0, 1]],
                     dtype=torch.float64)[None]
    # judge only pixels well inside the object
    inside = warp(torch.ones(1, 1, size, size), m, (48, 48), prefilter=False, pairs=True)
    inside = -F.max_pool2d(-inside, 5, stride=1, padding=2) > 0.999
    assert inside.sum() > 100

    def energy(img: torch.Tensor) -> float:
        return float(((img - 0.5) ** 2).mean(1, keepdim=True)[inside].mean())

    e_plain = energy(warp(checker, m, (48, 48), prefilter=False, pairs=True))
    e_mip = energy(warp(checker, m, (48, 48), prefilter=True, pairs=True))
    assert e_plain > 0.01  # without a prefilter the checkerboard aliases into patterns
    assert e_mip < e_plain / 100, (e_plain, e_mip)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_group_levels_entries_in_order_with_exact_weights(dtype: torch.dtype) -> None:
    lod = torch.tensor([2.25, 0.0, 1.0, 7.5, -1.0, 1.75], dtype=dtype)
    plan = group_levels(lod, 4)  # levels 0..3: 7.5 clamps to 3, -1 to 0
    got = {level: (idx.tolist(), wgt.tolist()) for level, idx, wgt in plan}
    assert list(got) == [0, 1, 2, 3]
    assert got[0] == ([1, 4], [1.0, 1.0])
    assert got[1] == ([2, 5], [1.0, 0.25])
    assert got[2] == ([0, 5], [0.75, 0.75])
    assert got[3] == ([0, 3], [0.25, 1.0])
    assert all(w.dtype == dtype and i.dtype == torch.int64 for _, i, w in plan)


def test_window_grid_sends_pixels_beyond_the_horizon_outside_the_texture() -> None:
    # z = 1 - x / 4: the pixels of columns 4 and beyond see the plane's horizon or the
    # space behind it, and must land outside the texture; the others are u / z, v / z
    minv = torch.tensor([[[0.5, 0.0, 0.1], [0.0, 0.25, -0.2], [-0.25, 0.0, 1.0]]],
                        dtype=torch.float64)
    grid = warp_module.window_grid(minv, (3, 6), torch.float32)
    assert grid.shape == (1, 3, 6, 2) and grid.is_contiguous()
    ys, xs = torch.meshgrid(torch.arange(3.0), torch.arange(6.0), indexing="ij")
    z = 1 - xs / 4
    front = z > 1e-9
    expected = torch.stack([(0.5 * xs + 0.1) / z, (0.25 * ys - 0.2) / z], -1)
    torch.testing.assert_close(grid[0][front], expected[front])
    assert grid[0][~front].eq(-4.0).all() and int((~front).sum()) == 6
    front_only = warp_module.window_grid(minv, (3, 4), torch.float32)  # no horizon in view
    torch.testing.assert_close(front_only[0], expected[:, :4])


@pytest.mark.parametrize("side", [513, 520, 600, 1000])
def test_an_object_of_any_size_covers_the_same_window_area(side: int) -> None:
    # sides that are not multiples of the coarsest level's box: the partial boxes at the
    # right and bottom edges used to stretch the object (513 px: 11% more area, shifted)
    from physsim.eot.pipeline import Pipeline

    pipe = Pipeline({"transforms": [
        {"pose": {"distance_m": 60, "yaw_deg": 0, "pitch_deg": 0, "roll_deg": 0, "offset": 0}},
        {"crop": {"margin": 0.3, "jitter": 0}}, {"background": {"kind": "flat", "gray": 0.0}}]},
        output_size=(32, 32), size_mm=(750.0, 750.0))
    params = pipe.sample(1, torch.Generator().manual_seed(0))
    with torch.no_grad():
        area = [float(pipe.render(torch.ones(1, 4, n, n), params)[0, 0, 0].sum())
                for n in (512, side)]
    assert area[0] == pytest.approx(400.0, rel=1e-4)
    assert area[1] == pytest.approx(area[0], rel=0.01)
