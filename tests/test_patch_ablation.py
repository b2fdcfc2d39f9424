"""scripts/patch_ablation.py: every variant is a valid scene that changes only what it says, the
fixed view is one image per sign, a short run writes per-class results, and a scene that is not
a patch scene is one line and exit status 2."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import yaml

from physsim.scene import parse_scene

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "patch_ablation.py"


@pytest.fixture(scope="module")
def ablation() -> ModuleType:
    spec = importlib.util.spec_from_file_location("patch_ablation", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def base(ablation: ModuleType) -> dict[str, Any]:
    return yaml.safe_load((ablation.ROOT / "scenes" / "sign_patch.yaml").read_text())


def copy_without(data: dict[str, Any]) -> dict[str, Any]:
    """The scene document without the two sections a variant may change."""
    return {k: v for k, v in data.items() if k not in ("patch", "eot")}


def test_every_variant_is_a_valid_scene(ablation: ModuleType, base: dict[str, Any]) -> None:
    for name in ablation.VARIANTS:
        parse_scene(ablation.variant_scene(base, ablation.VARIANTS[name]), name)


def test_variants_change_only_the_patch_and_the_transforms(ablation: ModuleType,
                                                           base: dict[str, Any]) -> None:
    kept = copy_without(base)
    for name, change in ablation.VARIANTS.items():
        data = ablation.variant_scene(base, change)
        assert copy_without(data) == kept, name
        assert data["eot"]["samples"] == base["eot"]["samples"]
        assert (data["eot"]["transforms"] == base["eot"]["transforms"]) == ("transforms"
                                                                            not in change)
    centred = ablation.variant_scene(base, ablation.VARIANTS["fixed_view_centred"])["patch"]
    assert centred["position"] == 0 and centred["rotation_deg"] == [0, 0]
    assert centred["face_area"] == base["patch"]["face_area"]
    assert base["patch"]["position"] == 0.3  # the base document is not modified


def test_the_fixed_view_draws_one_image_per_sign(ablation: ModuleType,
                                                base: dict[str, Any]) -> None:
    from physsim.runner import build_scenario

    for name, same in (("fixed_view_centred", True), ("physical_centred", False)):
        sc = build_scenario(parse_scene(ablation.variant_scene(base, ablation.VARIANTS[name]),
                                        name))
        pr = sc.patch
        params = pr.sample(3, torch.Generator().manual_seed(0), objects=torch.zeros(3).long())
        patch = torch.rand(3, *pr.mask.shape[-2:], generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            images = pr.pipeline.render_pairs(pr.place(patch, params), pr.size_mm[[0, 0, 0]],
                                              params["eot"])
        fixed = torch.equal(images[0], images[1]) and torch.equal(images[0], images[2])
        assert fixed == same, name


def test_short_run_writes_per_class_results(ablation: ModuleType, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ablation.json"
    threads = torch.get_num_threads()
    monkeypatch.setattr(sys, "argv", ["patch_ablation.py", "--steps", "2", "--variants",
                                      "fixed_view_centred", "--json", str(out)])
    try:
        ablation.main()
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    (row,) = result["variants"]
    assert row["variant"] == "fixed_view_centred" and row["steps"] == 2
    assert row["perturbation_area_fraction"] == pytest.approx(0.1, abs=1e-3)
    assert row["clean_accuracy"] == 1.0  # frontal, 3 m, no effects: every sign is read
    # 18 source classes: the target's own sign is left out
    assert len(row["per_class"]) == 18 and "speed_limit_45" not in row["per_class"]
    rate = sum(row["per_class"].values()) / 18
    assert row["attack_success_rate"] == pytest.approx(rate, abs=1e-3)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("scene", ["stop_sign_sticker", "no_such_scene"])
def test_a_scene_that_is_not_a_patch_scene_is_one_line_and_status_2(
        ablation: ModuleType, scene: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ablation.json"
    monkeypatch.setattr(sys, "argv", ["patch_ablation.py", "--scene", scene, "--json", str(out)])
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exc:
            ablation.main()
    finally:
        torch.set_num_threads(threads)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and scene in err
    assert not list(tmp_path.iterdir())
