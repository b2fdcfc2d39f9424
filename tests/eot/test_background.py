"""Procedural backgrounds: varied, seeded, replayable, composited under the object."""

from __future__ import annotations

import json

import pytest
import torch

from physsim.eot.background import _TABLE, KINDS, Background
from physsim.eot.base import params_from_json, params_to_json
from physsim.errors import UserError


def test_shapes_range_and_variety() -> None:
    t = Background()
    p = t.sample(20, torch.Generator().manual_seed(0))
    bg = t.generate(p, (24, 32), torch.float32)
    assert bg.shape == (20, 3, 24, 32) and bg.min() >= 0 and bg.max() <= 1
    assert set(p["kind"].tolist()) == set(range(len(KINDS)))
    # not one picture twenty times: the images differ, and each has structure
    assert torch.cdist(bg.flatten(1), bg.flatten(1)).add(torch.eye(20) * 99).min() > 0.5
    assert (bg.std((2, 3)).mean(1) > 0.005).float().mean() > 0.8


def test_scene_kinds_look_like_their_names() -> None:
    def mean_colour(kind: str) -> torch.Tensor:
        t = Background({"scenes": [kind]})
        p = t.sample(16, torch.Generator().manual_seed(1))
        return t.generate(p, (32, 32), torch.float32).mean((0, 2, 3))

    sky, foliage, road = mean_colour("sky"), mean_colour("foliage"), mean_colour("road")
    assert sky[2] > sky[0] + 0.1  # blue
    assert foliage[1] > foliage[2] + 0.05  # green
    assert (road.max() - road.min()) < 0.08  # grey


@pytest.mark.parametrize("kind", KINDS)
def test_every_number_is_drawn_from_its_kinds_range(kind: str) -> None:
    # all the numbers come from one draw, each mapped through its kind's row of the table
    table = _TABLE[kind]
    p = Background({"scenes": [kind]}).sample(64, torch.Generator().manual_seed(5))

    def within(value: torch.Tensor, ends: tuple) -> bool:
        lo, hi = (torch.tensor(e, dtype=torch.float32) for e in ends)
        return bool(((value >= lo - 1e-6) & (value <= hi + 1e-6)).all())

    for name, key in (("top", "top"), ("bottom", "bottom"), ("coarse", "coarse"),
                      ("fine", "fine"), ("blob_size", "size"), ("blob_color", "color"),
                      ("blob_soft", "soft")):
        assert within(p[name], table[key]), name
        assert p[name].std() > 0, name  # drawn, not one value
    assert within(p["angle"], tuple(torch.deg2rad(torch.tensor(table["angle"])).tolist()))
    assert within(p["tint"], (0.6, 1.0)) and within(p["blob_xy"], (0.0, 1.0))
    grey = table["grey"][0] > 0
    assert bool((p["top"] == p["top"][:, :1]).all()) == grey  # one draw for three channels
    # blobs 0 .. count - 1 are present, each at an opacity in [0.7, 1]
    present = p["blob_alpha"] > 0
    assert within(p["blob_alpha"][present], (0.7, 1.0))
    assert torch.equal(present, present.cumprod(1).bool())
    lo, hi = table["count"]
    assert lo <= int(present.sum(1).min()) and int(present.sum(1).max()) <= hi
    assert set(p["blob_round"].unique().tolist()) <= {0.0, 1.0}
    assert p["blob_round"].mean().item() == pytest.approx(table["round"][0], abs=0.1)


def test_replay_from_json_and_batch_independence() -> None:
    t = Background()
    p = t.sample(4, torch.Generator().manual_seed(3))
    again = params_from_json(json.loads(json.dumps(params_to_json(p))))
    a = t.generate(p, (16, 16), torch.float32)
    torch.testing.assert_close(t.generate(again, (16, 16), torch.float32), a)
    torch.testing.assert_close(t.generate({k: v[2:] for k, v in p.items()}, (16, 16),
                                          torch.float32), a[2:])


def test_apply_composites_rgba_and_leaves_rgb() -> None:
    t = Background({"kind": "flat", "gray": 0.25})
    p = t.sample(2, torch.Generator().manual_seed(0))
    rgba = torch.zeros(2, 4, 4, 4)
    rgba[:, :3] = 1.0
    rgba[:, 3, :2] = 1.0  # top half opaque white, bottom half transparent
    out = t.apply(rgba, p)
    assert out.shape == (2, 3, 4, 4)
    assert out[:, :, :2].eq(1).all() and out[:, :, 2:].eq(0.25).all()
    rgb = torch.rand(2, 3, 4, 4)
    assert torch.equal(t.apply(rgb, p), rgb)


def test_bad_scene_kind() -> None:
    with pytest.raises(UserError, match=r"scenes\.0"):
        Background({"scenes": ["beach"]})


def test_a_subclass_drawing_other_params_is_checked_by_its_own_rules() -> None:
    class Sky(Background):
        name = "test_sky"

        def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
            return {"blue": torch.rand(n, generator=generator)}

        def generate(self, params: dict[str, torch.Tensor], size: tuple[int, int],
                     dtype: torch.dtype) -> torch.Tensor:
            b = params["blue"].to(dtype).view(-1, 1, 1, 1)
            return torch.cat([b * 0, b * 0, b], 1).expand(-1, 3, *size)

    t = Sky()
    t.check_params(t.sample(3, torch.Generator().manual_seed(0)))
