"""Every digital attack runs from the shipped catalogue scenes, on signs and on digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from physsim.plugins import entries
from physsim.runner import run_scene
from physsim.scene import load_scene


def _digital_attacks() -> set[str]:
    return {e.name for e in entries("attack") if e.plugin == "physsim_attacks"}


@pytest.mark.parametrize("name", ["attack_catalogue_signs", "attack_catalogue_digits"])
def test_catalogue_scene_runs_every_attack(tmp_path: Path, name: str) -> None:
    _, path = load_scene(name)
    data = yaml.safe_load(path.read_text())
    data["data"]["n"] = 4  # the scene as shipped, on four images and one step per attack
    scene = tmp_path / f"{name}.yaml"
    scene.write_text(yaml.safe_dump(data))
    run = run_scene(scene, output=tmp_path / "run", steps=1)

    rows = json.loads((run / "results.json").read_text())
    specs = data["sweep"]["attacks"]
    assert [r["attack"] for r in rows] == [s["name"] for s in specs]
    assert {r["attack"] for r in rows} == _digital_attacks()
    for row, spec in zip(rows, specs):
        assert 0.0 <= row["success_rate"] <= 1.0
        assert 0.0 <= row["top1_accuracy"] <= row["top5_accuracy"] <= 1.0
        eps = spec["budget"]["eps"]
        if row["norm"] == "l0":  # eps pixels, counted per value: three channels each
            assert row["median_norm"] <= 3 * eps
        else:
            assert row["median_norm"] <= eps * (1 + 1e-4)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 4 and 0.0 <= metrics["clean_accuracy"] <= 1.0
