"""The procedural sign renderer and the sign objects."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from physsim_signs import render
from physsim_signs.catalog import LABELS, SIGNS
from physsim_signs.objects import SIGN_OBJECTS

from physsim.errors import UnknownNameError, UserError
from physsim.objects import ObjectTexture
from physsim.plugins import get_objects


def test_at_least_sixteen_classes_with_unique_names() -> None:
    assert len(LABELS) >= 16 and len(set(LABELS)) == len(LABELS)
    assert len({s.object_name for s in SIGNS}) == len(SIGNS)


@pytest.mark.parametrize("label", LABELS)
def test_shape_range_and_alpha(label: str) -> None:
    tex = render.render_sign(label, 128)
    spec = render.sign_spec(label)
    h, w = tex.shape[-2:]
    assert tex.shape[0] == 4 and max(h, w) == 128 and tex.dtype == torch.float32
    assert abs(h / w - spec.size_mm[1] / spec.size_mm[0]) < 0.02
    assert tex.min() >= 0 and tex.max() <= 1
    assert tex[3, h // 2, w // 2] == 1  # the centre is on the face
    assert (tex[3] == 0).any() or spec.label.startswith(("speed", "keep", "do_not"))


def test_default_resolution_is_512() -> None:
    tex = render.render_sign("speed_limit_45")
    assert tex.shape == (4, 512, 410)


def test_stop_sign_is_a_red_octagon() -> None:
    tex = render.render_sign("stop", 256)
    rgb, alpha = tex[:3], tex[3]
    assert alpha[0, 0] == 0 and alpha[0, -1] == 0 and alpha[-1, 0] == 0  # clipped corners
    face = alpha == 1
    red = (rgb[0] > 0.6) & (rgb[1] < 0.3) & (rgb[2] < 0.3)
    assert red[face].float().mean() > 0.6
    band = rgb[:, 25:35, 110:146].mean((1, 2))  # above the legend, inside the border
    assert band[0] > 0.6 and band[1] < 0.25 and band[2] < 0.25


def test_yield_is_an_inverted_triangle() -> None:
    alpha = render.render_sign("yield", 128)[3]
    assert alpha[1, 64] == 1 and alpha[1, 1] > 0.5  # wide top edge
    assert alpha[-2, 64] > 0 and alpha[-2, 10] == 0  # narrow bottom point


def test_deterministic_and_returns_copies() -> None:
    a = render.render_sign("merge", 96)
    a.zero_()
    render._render_cached.cache_clear()
    b = render.render_sign("merge", 96)
    c = render.render_sign("merge", 96)
    assert torch.equal(b, c) and b.abs().sum() > 0


def test_distinct_classes_differ() -> None:
    small = {label: render.render_downsampled(label, 64) for label in LABELS}
    for a, b in itertools.combinations(LABELS, 2):
        if small[a].shape == small[b].shape:
            assert (small[a] - small[b]).abs().mean() > 0.005, (a, b)


def test_downsampled_matches_area_reduction() -> None:
    big = render.render_sign("stop", 512)
    small = render.render_downsampled("stop", 64)
    ref = F.interpolate(big[None], size=(64, 64), mode="area")[0]
    assert small.shape == (4, 64, 64)
    # alpha is a plain area average; colour differs only at the anti-aliased outline
    torch.testing.assert_close(small[3], ref[3])
    assert (small[:3] - ref[:3]).abs()[:, 16:48, 16:48].max() < 1e-4


def test_bad_inputs() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown sign class 'stahp'.*stop"):
        render.render_sign("stahp")
    with pytest.raises(UserError, match="size_px"):
        render.render_sign("stop", 4)


def test_objects_registered_without_rendering() -> None:
    render._render_cached.cache_clear()
    objects = get_objects()
    assert render._render_cached.cache_info().currsize == 0
    for name in ("stop_sign", "yield_sign", "speed_limit_45", "do_not_enter_sign"):
        assert name in objects
    assert len([c for c in SIGN_OBJECTS if c.name in objects]) == len(SIGNS)


def test_object_load_and_real_sizes() -> None:
    objects = get_objects()
    sizes = {"stop_sign": (750, 750), "speed_limit_25": (600, 750), "merge_sign": (750, 750)}
    for name, size in sizes.items():
        assert objects[name].size_mm == size
    assert objects["yield_sign"].size_mm[0] == 900
    loaded = objects["stop_sign"]({"size_px": 128}).load()
    assert isinstance(loaded, ObjectTexture)
    assert loaded.label == "stop" and loaded.name == "stop_sign"
    assert loaded.texture.shape == (4, 128, 128)
    assert torch.equal(loaded.mask, (loaded.texture[3:] > 0).float())


def test_object_options_are_strict() -> None:
    cls = get_objects()["stop_sign"]
    with pytest.raises(UserError, match="size_px"):
        cls({"size_px": 10})
    with pytest.raises(UserError, match="unknown option"):
        cls({"resolution": 10})
