"""The feature squeezers do what they say, and their BPDA stand-ins behave."""

from __future__ import annotations

import pytest
import torch
from physsim_defenses.squeeze import (
    BitDepth,
    JpegDefense,
    MedianFilter,
    Threshold,
    jpeg_codec,
    median_filter,
)

from physsim.errors import UserError
from physsim.testing import toy_images


def test_bit_depth_keeps_at_most_two_to_the_bits_levels() -> None:
    x = toy_images(8)
    assert BitDepth({"bits": 2}).transform(x).unique().numel() <= 4
    assert BitDepth({"bits": 8}).transform(x).unique().numel() > 4


def test_threshold_is_binary_and_straight_through() -> None:
    x = toy_images(4).requires_grad_(True)
    t = Threshold({"level": 0.5})
    assert set(t.transform(x).unique().tolist()) <= {0.0, 1.0}
    y = t.approximate(x)
    assert torch.equal(y.detach(), t.transform(x))
    y.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.ones_like(x))  # the identity


def test_median_removes_an_isolated_spike_and_keeps_flat_images() -> None:
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(median_filter(flat, 3), flat)
    spiky = flat.clone()
    spiky[..., 4, 4] = 1.0
    assert torch.allclose(median_filter(spiky, 3), flat)
    assert median_filter(spiky, 2).shape == spiky.shape


def test_median_needs_a_window() -> None:
    with pytest.raises(UserError, match="size"):
        MedianFilter({"size": 1})


def test_jpeg_codec_is_lossy_and_its_bpda_follows_it() -> None:
    x = toy_images(6, size=16)
    low, high = jpeg_codec(x, 10), jpeg_codec(x, 95)
    assert (low - x).abs().mean() > (high - x).abs().mean()
    # the differentiable codec is close to libjpeg, so its gradient is a sound stand-in
    xg = x.clone().requires_grad_(True)
    out = JpegDefense({"quality": 50}).approximate(xg)
    assert torch.allclose(out, jpeg_codec(x, 50))
    out.sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
