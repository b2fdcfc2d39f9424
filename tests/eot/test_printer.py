"""The printer model: profiles from files, the gamut clamp, a 3-D LUT, the NPS loss term."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from physsim.eot.printer import Printer, load_profile, non_printability_score
from physsim.errors import UserError


def test_default_profile_has_a_palette_inside_its_gamut() -> None:
    p = load_profile("default")
    pal = p.palette_tensor()
    assert 25 <= len(pal) <= 40
    low, high = torch.tensor(p.gamut.low), torch.tensor(p.gamut.high)
    assert ((pal >= low - 1e-6) & (pal <= high + 1e-6)).all()


def test_printed_colours_stay_in_the_gamut() -> None:
    t = Printer()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = t.apply(x, t.sample(3, torch.Generator().manual_seed(0)))
    p = t.profile
    assert (y >= torch.tensor(p.gamut.low).view(1, 3, 1, 1) - 1e-6).all()
    assert (y <= torch.tensor(p.gamut.high).view(1, 3, 1, 1) + 1e-6).all()
    # paper white is not pure white and ink black is not pure black
    white = t.apply(torch.ones(1, 3, 2, 2), {"ink_gain": torch.ones(1, 3)})
    assert (white < 0.99).all()


def _write(tmp_path: Path, data: object, name: str = "p.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_a_measured_profile_replaces_the_default(tmp_path: Path) -> None:
    ident = {"name": "ident", "palette": [[0, 0, 0], [1, 1, 1]]}
    t = Printer({"profile": _write(tmp_path, ident)})
    x = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(t.apply(x, {"ink_gain": torch.ones(2, 3)}), x)


def test_a_lut_profile(tmp_path: Path) -> None:
    # a 2 x 2 x 2 LUT of the identity is exact under trilinear interpolation; swap R and B
    lut = [[[[b, g, r] for b in (0.0, 1.0)] for g in (0.0, 1.0)] for r in (0.0, 1.0)]
    t = Printer({"profile": _write(tmp_path, {"lut": lut, "palette": [[0, 0, 0], [1, 1, 1]]})})
    x = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    y = t.apply(x, {"ink_gain": torch.ones(2, 3)})
    torch.testing.assert_close(y, x.flip(1))
    # the table is made into a tensor once per dtype and device, not at every step
    cpu = torch.device("cpu")
    made = t.profile.tensors(torch.float32, cpu)
    assert made.lut is not None and made.lut.shape == (1, 3, 2, 2, 2)
    assert t.profile.tensors(torch.float32, cpu) is made
    wide = t.profile.tensors(torch.float64, cpu).lut
    assert wide is not None and wide.dtype == torch.float64
    torch.testing.assert_close(t.apply(x.double(), {"ink_gain": torch.ones(2, 3)}),
                               x.double().flip(1))


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read printer profile"),
    ({"palette": [[0, 0, 0]]}, "palette"),
    ({"matrix": [[1, 0], [0, 1]], "palette": [[0, 0, 0], [1, 1, 1]]}, "matrix"),
    ({"gamut": {"low": [0.5] * 3, "high": [0.4] * 3}, "palette": [[0, 0, 0], [1, 1, 1]]},
     "low must be below high"),
    ({"lut": [[[[0, 0, 0]]]], "palette": [[0, 0, 0], [1, 1, 1]]}, "S x S x S"),
    ({"palette": [[0, 0, 0], [1, 1, 1]], "colour": 1}, "colour: unknown option"),
])
def test_bad_profiles_are_user_errors_naming_the_file(tmp_path: Path, content: object,
                                                      message: str) -> None:
    path = _write(tmp_path, content, "bad.json")
    with pytest.raises(UserError, match=message) as info:
        load_profile(path)
    assert "bad.json" in str(info.value)


def test_missing_or_unknown_profiles() -> None:
    with pytest.raises(UserError, match="not found"):
        load_profile("/no/such/printer.json")
    with pytest.raises(UserError, match=r"printer\.profile: .*available: default"):
        from physsim.eot.config import EOTConfig

        EOTConfig.parse({"transforms": [{"printer": {"profile": "laserjet"}}]})


def test_nps_is_small_on_the_palette_and_large_off_it() -> None:
    pal = load_profile("default").palette_tensor()
    on = pal[:16].T.reshape(3, 4, 4)
    off = torch.tensor([1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 4, 4)  # saturated magenta
    assert non_printability_score(on, pal).item() < 1e-5
    assert non_printability_score(off, pal).item() > 1e3 * non_printability_score(on, pal).item()


def test_nps_is_a_differentiable_batched_loss_with_a_mask() -> None:
    pal = load_profile("default").palette_tensor()
    x = torch.rand(2, 4, 6, 6, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3, :] = 1
    score = non_printability_score(x, pal, mask)
    assert score.shape == (2,)
    score.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad[:, :, 3:].abs().sum() == 0 and x.grad[:, :3, :3].abs().sum() > 0
    # the formula, written out for one texture: mean over pixels of prod over colours
    pix = x[0, :3].detach().reshape(3, -1).T[:18]
    ref = torch.cdist(pix.double(), pal.double()).prod(1).mean()
    assert score[0].item() == pytest.approx(ref.item(), rel=1e-4)


def test_nps_gradient_pulls_towards_printable_colours() -> None:
    pal = load_profile("default").palette_tensor()
    x = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1).repeat(1, 1, 4, 4).requires_grad_(True)
    for _ in range(30):
        loss = non_printability_score(x, pal).sum()
        (g,) = torch.autograd.grad(loss, x)
        x = (x - 0.5 * g / g.abs().max()).clamp(0, 1).detach().requires_grad_(True)
    assert non_printability_score(x, pal).item() < 0.1 * non_printability_score(
        torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1), pal).item()
