"""The eot: section: defaults, ranges in physical units, and one-line errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from physsim.eot.config import DEFAULT_TRANSFORMS, EOTConfig
from physsim.eot.pipeline import Pipeline
from physsim.eot.ranges import uniform, uniforms
from physsim.errors import UnknownNameError, UserError


def _with(item: dict[str, Any], index: int = 0) -> dict[str, Any]:
    items = list(DEFAULT_TRANSFORMS)
    items[index] = item
    return {"transforms": items}


def test_defaults_resolve_every_step() -> None:
    cfg = EOTConfig.model_validate({})
    assert [s.label for s in cfg.steps] == [next(iter(i)) for i in DEFAULT_TRANSFORMS]
    assert cfg.samples == 32 and cfg.chunk is None and cfg.prefilter


def test_a_number_is_a_fixed_range() -> None:
    cfg = EOTConfig.parse(_with({"pose": {"distance_m": 4.5, "yaw_deg": [-10, 30]}}))
    pose = cfg.steps[0].transform.options
    assert pose.distance_m == (4.5, 4.5) and pose.yaw_deg == (-10.0, 30.0)


def test_repeated_names_get_distinct_labels() -> None:
    cfg = EOTConfig.parse({"transforms": [{"defocus": {}}, {"defocus": {"sigma_px": 2}}]})
    assert [s.label for s in cfg.steps] == ["defocus", "defocus_2"]


@pytest.mark.parametrize(("item", "index", "message"), [
    ({"pose": {"distance_m": [-1, 3]}}, 0, r"eot\.transforms\[0\]\.pose\.distance_m: must be > 0"),
    ({"pose": {"distance_m": [5, 2]}}, 0, r"pose\.distance_m: low must be <= high"),
    ({"pose": {"yaw_deg": [-90, 10]}}, 0, r"transforms\[0\]\.pose\.yaw_deg: must lie strictly"),
    ({"pose": {"pitch_deg": 95}}, 0, r"transforms\[0\]\.pose\.pitch_deg: must lie strictly"),
    ({"jpeg": {"quality": [40, 101]}}, 8, r"transforms\[8\]\.jpeg\.quality: must be <= 100"),
    ({"jpeg": {"quality": 0}}, 8, r"transforms\[8\]\.jpeg\.quality: must be >= 1"),
    ({"lighting": {"kelvin": [3500, "hot"]}}, 3, r"transforms\[3\]\.lighting\.kelvin"),
    ({"pose": {"distnce_m": 3}}, 0, r"transforms\[0\]\.pose\.distnce_m: unknown option"),
    ({"printer": {"profile": "nope"}}, 2, r"transforms\[2\]\.printer\.profile: .*unknown printer"),
    ({"pose": {}, "crop": {}}, 0, r"transforms\[0\]: expected one \{name: options\}"),
    ({"pose": [1, 2]}, 0, r"transforms\[0\]\.pose: options must be a mapping"),
])
def test_bad_transform_options_name_the_field(item: dict[str, Any], index: int,
                                              message: str) -> None:
    with pytest.raises(UserError, match=message):
        EOTConfig.parse(_with(item, index))


def test_unknown_transform_lists_the_available_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"eot\.transforms\[1\]: unknown transform "
                                               r"'blurr' \(available: .*defocus.*\)"):
        EOTConfig.parse(_with({"blurr": {}}, 1))


def test_geometric_order_is_checked() -> None:
    with pytest.raises(UserError, match=r"transforms\[1\]\.pose: cannot follow"):
        EOTConfig.parse({"transforms": [{"crop": {}}, {"pose": {}}]})


def test_one_background_only() -> None:
    with pytest.raises(UserError, match="only one background"):
        EOTConfig.parse({"transforms": [{"background": {}}, {"background": {}}]})


@pytest.mark.parametrize(("data", "message"), [
    ({"samples": 0}, r"eot\.samples: Input should be greater than or equal to 1"),
    ({"chunk": -2}, r"eot\.chunk"),
    ({"sample": 3}, r"eot\.sample: unknown option"),
    ({"camera": {"fov_deg": 50, "focal_px": 900}}, r"eot\.camera: give fov_deg or focal_px"),
    ({"camera": {"fov_deg": 190}}, r"eot\.camera\.fov_deg"),
    ({"transforms": "pose"}, r"eot\.transforms"),
    ([1, 2], r"eot: expected a mapping"),
])
def test_bad_sections_are_one_user_error(data: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Pipeline.from_config(data, output_size=(8, 8))


def test_where_prefix_follows_the_caller() -> None:
    with pytest.raises(UserError, match=r"^scene\.eot\.samples"):
        EOTConfig.parse({"samples": 0}, where="scene.eot")


def test_focal_length_or_field_of_view() -> None:
    a = EOTConfig.parse({"camera": {"focal_px": 1000, "resolution": [1000, 800]}}).camera
    b = EOTConfig.parse({"camera": {"fov_deg": 53.13010235, "resolution": [1000, 800]}}).camera
    assert a.camera().focal_px == pytest.approx(b.camera().focal_px, rel=1e-6)


def test_uniforms_draws_what_uniform_draws_in_turn() -> None:
    # the transforms draw their ranges in one call; the params must not depend on that
    pairs = {"a": (1.5, 12.0), "b": (-45.0, 45.0), "c": (3.0, 3.0), "d": (0.0, 6.283185307179586)}
    for n in (1, 8, 33):
        g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
        together = uniforms(pairs, n, g1)
        for name, pair in pairs.items():
            assert torch.equal(together[name], uniform(pair, n, g2))
        assert torch.equal(torch.rand(5, generator=g1), torch.rand(5, generator=g2))
    assert uniforms(pairs, 4, torch.Generator())["c"].tolist() == [3.0] * 4
