"""Evaluation helpers: top-k accuracy, Kurakin's destruction rate, the face area measure."""

from __future__ import annotations

import math

import pytest
import torch

from physsim.evaluate import area_fraction, destruction_rate, topk_accuracy


def test_destruction_rate_counts_only_working_adversarial_images() -> None:
    clean = torch.tensor([True, True, True, True, False])
    adv = torch.tensor([False, False, False, True, False])  # three work; one failed; one moot
    photo = torch.tensor([True, False, False, True, True])
    assert destruction_rate(clean, adv, photo) == pytest.approx(1 / 3)


def test_destruction_rate_without_working_examples_is_nan() -> None:
    t = torch.tensor([True, True])
    assert math.isnan(destruction_rate(t, t, t))


def test_topk_accuracy() -> None:
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([1, 1])
    assert topk_accuracy(logits, labels, 1) == 0.0
    assert topk_accuracy(logits, labels, 2) == 1.0
    assert topk_accuracy(logits, labels, 9) == 1.0


def test_area_fraction_is_over_the_face_only() -> None:
    alpha = torch.zeros(1, 10, 10)
    alpha[:, :, :5] = 1  # the face is the left half
    clean = torch.zeros(1, 3, 10, 10)
    adv = clean.clone()
    adv[0, 0, :, 4:6] = 0.5  # two columns changed, one on the face, one off it
    assert area_fraction(clean, adv, alpha) == pytest.approx(0.2)
