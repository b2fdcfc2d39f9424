"""The mask library."""

from __future__ import annotations

import pytest
import torch

from physsim.errors import UnknownNameError, UserError
from physsim.masks import MASKS, make_mask


@pytest.mark.parametrize("name", sorted(MASKS))
def test_masks_are_binary_and_sized(name: str) -> None:
    m = make_mask(name, (256, 200))
    assert m.shape == (1, 256, 200)
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    assert m.sum() > 0


def test_sticker_masks_are_small() -> None:
    for name in ("graffiti", "word_strips"):
        assert make_mask(name, (512, 512)).mean() < 0.1


def test_unknown_mask_lists_names() -> None:
    with pytest.raises(UnknownNameError, match="graffiti"):
        make_mask("grafiti", (64, 64))


def test_too_small_texture() -> None:
    with pytest.raises(UserError, match="too small"):
        make_mask("graffiti", (4, 4))
