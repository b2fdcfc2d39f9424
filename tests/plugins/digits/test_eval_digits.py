"""``physsim eval-classifier`` on the digits classifier, and its binning helpers."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from click.testing import CliRunner

from physsim.classifier_eval import accuracy_report, bin_accuracy
from physsim.cli import cli


def test_eval_digits_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["eval-classifier", "digits_cnn", "--samples", "200",
                                      "--seed", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "digits_cnn: accuracy" in result.output
    report = json.loads(out.read_text())
    assert report["n"] == 200 and report["accuracy"] >= 0.97
    assert set(report["per_class"]) == {str(d) for d in range(10)}
    assert sum(v["n"] for v in report["per_class"].values()) == 200
    assert "per_bin" not in report  # digits have no physical bins


def test_classifier_without_heldout_is_a_user_error() -> None:
    result = CliRunner().invoke(cli, ["eval-classifier", "torchscript"])
    assert result.exit_code == 2
    assert "has no held-out set" in result.output


def test_an_output_that_cannot_be_written_is_refused_before_the_work(tmp_path: Path) -> None:
    earlier = tmp_path / "report.json"
    earlier.write_text("earlier")
    for args, message in ((["--json", str(earlier)], "--json: exists already (add --force"),
                          (["--json", str(tmp_path / "no" / "r.json")], "the folder"),
                          (["--device", "gpu"], "--device: not a device name: 'gpu'"),
                          (["--seed", str(2**64)], "is not in the range 0<=x<=")):
        result = CliRunner().invoke(cli, ["eval-classifier", "digits_cnn", *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "accuracy" not in result.output  # nothing was evaluated
    assert earlier.read_text() == "earlier"
    result = CliRunner().invoke(cli, ["eval-classifier", "digits_cnn", "--samples", "20",
                                      "--json", str(earlier), "--force"])
    assert result.exit_code == 0 and json.loads(earlier.read_text())["n"] == 20


def test_unknown_classifier_lists_the_known_ones() -> None:
    result = CliRunner().invoke(cli, ["eval-classifier", "no_such_model"])
    assert result.exit_code == 2 and "digits_cnn" in result.output


def test_bin_accuracy_counts_and_open_ends() -> None:
    values = torch.tensor([0.5, 2.0, 4.0, 4.5, 20.0])
    correct = torch.tensor([True, False, True, False, True])
    bins = bin_accuracy(correct, values, (1.0, 3.0, 5.0, 10.0))
    assert bins == {"1-3": {"accuracy": 0.5, "n": 2}, "3-5": {"accuracy": 0.5, "n": 2},
                    "5-10": {"accuracy": 1.0, "n": 1}}


def test_yaw_is_binned_by_magnitude() -> None:
    pred = torch.tensor([0, 1, 1, 0])
    labels = torch.tensor([0, 1, 0, 0])
    report = accuracy_report(["a", "b"], pred, labels,
                             {"yaw_deg": torch.tensor([-40.0, 40.0, 5.0, -5.0])})
    assert report["accuracy"] == 0.75
    assert report["per_class"] == {"a": {"accuracy": round(2 / 3, 4), "n": 3},
                                   "b": {"accuracy": 1.0, "n": 1}}
    assert report["per_bin"]["yaw_deg"]["30-45"] == {"accuracy": 1.0, "n": 2}
    assert report["per_bin"]["yaw_deg"]["0-15"] == {"accuracy": 0.5, "n": 2}
