"""Fixtures shared across the test packages: the shipped digits classifier and its test digits."""

from __future__ import annotations

import pytest
import torch
from physsim_digits import load_digits_split
from physsim_digits.classifier import DigitsClassifier

from physsim.classifier import Classifier


@pytest.fixture(scope="session")
def digits_cnn() -> Classifier:
    return DigitsClassifier.create()


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 450 test digits (images (450, 3, 8, 8), labels)."""
    return load_digits_split("test")
