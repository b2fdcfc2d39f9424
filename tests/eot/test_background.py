"""Procedural backgrounds: varied, seeded, replayable, composited under the object."""

from __future__ import annotations

import json

import pytest
import torch

from physsim.eot.background import KINDS, Background
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
