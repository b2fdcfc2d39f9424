"""scripts/train_sign_classifier.py end to end on a tiny budget: it trains, writes weights a
classifier loads, and passes its options to the renderer."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from click.testing import CliRunner

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def train_script() -> Iterator[ModuleType]:
    """The script as a module; the torch settings it changes are put back afterwards."""
    spec = importlib.util.spec_from_file_location("train_sign_classifier",
                                                  SCRIPTS / "train_sign_classifier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    try:
        yield module
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def test_trains_with_the_occlusion_asked_for(train_script: ModuleType, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, float]] = []
    render = train_script.iter_blocks

    def recording(n: int, split: str, seed: int, size: tuple[int, int],
                  **kw: Any) -> Iterator[Any]:
        seen.append((split, kw["occlusion"]))
        return render(n, split, seed, size, **kw)

    monkeypatch.setattr(train_script, "iter_blocks", recording)
    result = CliRunner().invoke(train_script.main, [
        "--arch", "lisa_cnn", "--train-size", "100", "--epochs", "1", "--test-size", "100",
        "--occlusion", "0", "--threads", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen == [("train", 0.0), ("val", 0.15), ("test", 0.15)]
    meta = json.loads((tmp_path / "lisa_cnn.json").read_text())
    assert meta["training"]["occlusion"] == 0.0
    assert meta["training"]["train_images"] == 100 and meta["test_samples"] == 100

    from physsim_models.classifiers import StateDictClassifier

    clf = StateDictClassifier.create({"path": tmp_path / "lisa_cnn.pt",
                                      "architecture": "lisa_cnn", "labels": meta["classes"],
                                      "mean": meta["mean"], "std": meta["std"],
                                      "sha256": meta["sha256"]})
    assert clf(torch.rand(2, 3, 32, 32)).shape == (2, len(meta["classes"]))


def test_rejects_an_occlusion_share_outside_zero_to_one(train_script: ModuleType,
                                                        tmp_path: Path) -> None:
    result = CliRunner().invoke(train_script.main, ["--arch", "lisa_cnn", "--occlusion", "1.5",
                                                    "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--occlusion" in result.output
    assert not any(tmp_path.iterdir())
