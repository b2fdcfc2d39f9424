"""``ObjectTexture``: a loaded object is refused, naming it, when it could not be rendered."""

from __future__ import annotations

import pytest
import torch

from physsim.errors import UserError
from physsim.objects import ObjectTexture


def _make(texture: torch.Tensor | None = None, mask: torch.Tensor | None = None,
          size_mm: tuple[float, ...] = (300.0, 200.0)) -> ObjectTexture:
    t = torch.rand(4, 6, 8, generator=torch.Generator().manual_seed(0)) \
        if texture is None else texture
    m = torch.ones(1, *t.shape[1:]) if mask is None else mask
    return ObjectTexture(t, m, size_mm, "disc", "my_disc")  # type: ignore[arg-type]


def test_a_valid_object() -> None:
    obj = _make()
    assert obj.mm_per_pixel == pytest.approx(300.0 / 8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"texture": torch.rand(3, 6, 8)}, r"texture must have shape \(4, H, W\) RGBA"),
    ({"texture": torch.rand(4, 0, 0)}, r"texture must have shape \(4, H, W\) RGBA"),
    ({"texture": torch.rand(4, 6, 8) * 2}, r"texture must be floating point with values in"),
    ({"texture": torch.full((4, 6, 8), float("nan"))}, r"texture must be floating point"),
    ({"texture": torch.ones(4, 6, 8, dtype=torch.uint8)}, r"texture must be floating point"),
    ({"mask": torch.ones(1, 6, 7)}, r"mask must have shape \(1, 6, 8\), got \(1, 6, 7\)"),
    # each of these was accepted, and rendered as something other than the object
    ({"mask": torch.full((1, 6, 8), 5.0)}, r"mask must be floating point with values in"),
    ({"mask": torch.full((1, 6, 8), float("nan"))}, r"mask must be floating point"),
    ({"mask": -torch.ones(1, 6, 8)}, r"mask must be floating point"),
    ({"size_mm": (float("nan"), 200.0)}, r"size_mm must be a positive, finite"),
    ({"size_mm": (float("inf"), 200.0)}, r"size_mm must be a positive, finite"),
    ({"size_mm": (300.0, 200.0, 1.0)}, r"size_mm must be a positive, finite"),
    ({"size_mm": (0.0, 200.0)}, r"size_mm must be a positive, finite"),
])
def test_an_object_that_cannot_be_rendered_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=r"^object 'my_disc': " + message):
        _make(**kwargs)
