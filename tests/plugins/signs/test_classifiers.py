"""The shipped sign classifiers: contract, accuracy on fresh renders, checked weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from physsim_signs.classifiers import (
    LisaCNNClassifier,
    SignClassifier,
    SignResNetClassifier,
    weights_dir,
)

from physsim.cli import cli
from physsim.errors import UnknownNameError, UserError
from physsim.testing import ClassifierContract


class TestLisaCNNContract(ClassifierContract):
    classifier_class = LisaCNNClassifier


class TestSignResNetContract(ClassifierContract):
    classifier_class = SignResNetClassifier


@pytest.mark.parametrize("cls", [LisaCNNClassifier, SignResNetClassifier])
def test_accuracy_on_fresh_renders(cls: type[SignClassifier]) -> None:
    model = cls.create()
    images, labels, bins = cls.heldout(200, 7, "cpu")
    assert images.shape[-2:] == model.input_size and set(bins) == {"distance_m", "yaw_deg"}
    with torch.no_grad():
        acc = (model(images).argmax(1) == labels).float().mean().item()
    assert acc >= 0.9, acc


def test_metadata_records_training() -> None:
    for arch in ("lisa_cnn", "sign_resnet"):
        meta = json.loads((weights_dir() / f"{arch}.json").read_text())
        assert meta["architecture"] == arch and len(meta["classes"]) >= 16
        assert meta["test_samples"] >= 2000 and meta["per_bin"]["distance_m"]
        assert (weights_dir() / f"{arch}.pt").stat().st_size < 10 * 2**20


def _copy(tmp_path: Path, arch: str = "lisa_cnn") -> Path:
    pt = tmp_path / f"{arch}.pt"
    shutil.copy(weights_dir() / f"{arch}.pt", pt)
    shutil.copy(weights_dir() / f"{arch}.json", tmp_path / f"{arch}.json")
    return pt


def test_corrupt_copy_fails_hash_check(tmp_path: Path) -> None:
    pt = _copy(tmp_path)
    blob = bytearray(pt.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    pt.write_bytes(bytes(blob))
    with pytest.raises(UserError, match=r"lisa_cnn\.pt: sha256 mismatch"):
        LisaCNNClassifier.create({"weights": pt})


def test_missing_weights_and_metadata(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="metadata file not found"):
        LisaCNNClassifier.create({"weights": tmp_path / "none.pt"})
    pt = _copy(tmp_path)
    pt.unlink()
    with pytest.raises(UserError, match=r"lisa_cnn\.pt: weights file not found"):
        LisaCNNClassifier.create({"weights": pt})


def test_unknown_architecture_in_metadata(tmp_path: Path) -> None:
    pt = _copy(tmp_path)
    meta_file = pt.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "architecture": "vgg_giant"}))
    with pytest.raises(UnknownNameError, match="unknown architecture 'vgg_giant'"):
        LisaCNNClassifier.create({"weights": pt})


def test_weights_of_another_architecture(tmp_path: Path) -> None:
    pt = _copy(tmp_path)
    with pytest.raises(UserError, match="weights are for 'lisa_cnn', expected 'sign_resnet'"):
        SignResNetClassifier.create({"weights": pt})


def test_eval_classifier_reports_bins(tmp_path: Path) -> None:
    out = tmp_path / "lisa.json"
    result = CliRunner().invoke(cli, ["eval-classifier", "lisa_cnn", "--samples", "120",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["n"] == 120 and 0 <= report["accuracy"] <= 1
    assert set(report["per_bin"]) == {"distance_m", "yaw_deg"}
    assert sum(b["n"] for b in report["per_bin"]["yaw_deg"].values()) == 120
    assert "per distance_m bin" in result.output
