"""The digits pack: data split, the shipped digits_cnn, and its failure modes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from physsim_digits import data as digits_data
from physsim_digits import load_digits_split
from physsim_digits.classifier import DigitsClassifier

from physsim.errors import UserError
from physsim.testing import ClassifierContract

SHIPPED = Path(digits_data.__file__).parent / "weights" / "digits_cnn.pt"


class TestDigitsContract(ClassifierContract):
    classifier_class = DigitsClassifier


def test_split_shapes_ranges_and_disjoint() -> None:
    x_train, _ = load_digits_split("train")
    x_test, y_test = load_digits_split("test")
    assert x_train.shape == (1347, 3, 8, 8) and x_test.shape == (450, 3, 8, 8)
    assert x_train.min() >= 0 and x_train.max() <= 1
    assert torch.equal(x_test[:, 0], x_test[:, 2])  # grey replicated
    assert set(y_test.tolist()) == set(range(10))
    train_idx = set(digits_data.split_indices("train").tolist())
    test_idx = set(digits_data.split_indices("test").tolist())
    assert not train_idx & test_idx and len(train_idx | test_idx) == 1797


def test_unknown_split() -> None:
    with pytest.raises(UserError, match="split must be one of"):
        load_digits_split("validation")


def test_shipped_weights_reach_target_accuracy() -> None:
    model = DigitsClassifier.create()
    x, y, bins = DigitsClassifier.heldout(1000, 0, "cpu")
    assert bins is None and len(y) == 450  # the whole test split when n is larger
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.97


def test_heldout_subset_is_seeded() -> None:
    a = DigitsClassifier.heldout(50, 3, "cpu")[1]
    b = DigitsClassifier.heldout(50, 3, "cpu")[1]
    assert len(a) == 50 and torch.equal(a, b)


HOW_TO_INSTALL = (r"pip install 'physsim\[digits\]' "
                  r"\(from a checkout: pip install '\.\[digits\]'\)")


def test_missing_sklearn_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    digits_data._all_digits.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    try:
        with pytest.raises(UserError, match=HOW_TO_INSTALL):
            load_digits_split("test")
        with pytest.raises(UserError, match=HOW_TO_INSTALL):
            DigitsClassifier.create()
    finally:
        digits_data._all_digits.cache_clear()


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        DigitsClassifier.create({"weights": tmp_path / "nope.pt"})


def test_corrupt_copy_fails_hash_check(tmp_path: Path) -> None:
    copy = tmp_path / "digits_cnn.pt"
    shutil.copy(SHIPPED, copy)
    shutil.copy(SHIPPED.with_suffix(".json"), tmp_path / "digits_cnn.json")
    blob = bytearray(copy.read_bytes())
    blob[-100] ^= 0xFF
    copy.write_bytes(bytes(blob))
    with pytest.raises(UserError, match=r"digits_cnn\.pt.*sha256 mismatch"):
        DigitsClassifier.create({"weights": copy})
