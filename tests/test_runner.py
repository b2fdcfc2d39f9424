"""The straight path of a run, end to end on toy components: files, metrics, observers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image
from toy_plugin import toy_plugin

from physsim.checkpoint import CheckpointStore
from physsim.cli import cli
from physsim.errors import UserError
from physsim.hookspecs import hookimpl
from physsim.plugins import pm
from physsim.runner import build_scenario, run_scene
from physsim.scene import parse_scene

EOT = {"samples": 4, "camera": {"fov_deg": 50, "resolution": [640, 480]},
       "transforms": [{"pose": {"distance_m": [1.0, 4.0], "yaw_deg": [-30, 30]}},
                      {"crop": {"margin": [0.05, 0.2]}},
                      {"lighting": {"exposure_stops": [-0.5, 0.5]}},
                      {"background": {"kind": "procedural"}},
                      {"jpeg": {"quality": [60, 90]}}]}

PHYSICAL = {
    "name": "toy_physical",
    "seed": 3,
    "object": {"name": "toy_disc"},
    "classifier": {"name": "toy_linear"},
    "attack": {"name": "rp2", "mode": "targeted", "target": "class2",
               "budget": {"eps": 1.0, "steps": 3},
               "options": {"sensitivity_steps": 2, "finetune_steps": 2, "area_fraction": 0.3}},
    "eot": EOT,
    "evaluation": {"grid": {"distance_m": [1.5, 3.0], "yaw_deg": [0, 30], "draws": 2},
                   "random_samples": 6},
}


@pytest.fixture(autouse=True)
def _toy() -> Iterator[None]:
    with toy_plugin():
        yield


def write(tmp_path: Path, data: dict[str, Any], name: str = "scene.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_physical_run_writes_a_complete_run_directory(tmp_path: Path) -> None:
    run = run_scene(write(tmp_path, PHYSICAL), output=tmp_path / "run")
    names = {p.name for p in run.iterdir()}
    assert {"report.html", "metrics.json", "artefact.png", "mask.png", "scene.yaml",
            "manifest.json", "object.json", "renders"} <= names
    assert json.loads((run / "object.json").read_text())["size_mm"] == [300.0, 300.0]
    # mask.png is where RP2 put its stickers (at most area_fraction of the face), not the face
    mask = np.asarray(Image.open(run / "mask.png")) > 127
    assert 0 < mask.mean() <= 0.3
    m = json.loads((run / "metrics.json").read_text())
    for key in ("clean_accuracy", "attack_success_rate", "target_class",
                "perturbation_area_fraction", "grid", "steps", "seconds"):
        assert key in m
    assert m["target_class"] == "class2" and m["steps"] == 2 + 3 + 2
    assert len(m["grid"]) == 4 and all(c["n"] == 2 for c in m["grid"])
    assert 0 <= m["attack_success_rate"] <= 1 and 0 < m["perturbation_area_fraction"] <= 0.35
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    assert yaml.safe_load((run / "scene.yaml").read_text())["seed"] == 3
    assert json.loads((run / "manifest.json").read_text())["seed"] == 3
    assert not (tmp_path / "run.partial").exists()


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    path = write(tmp_path, PHYSICAL)
    a = json.loads((run_scene(path, output=tmp_path / "a") / "metrics.json").read_text())
    b = json.loads((run_scene(path, output=tmp_path / "b") / "metrics.json").read_text())
    assert a["loss_history"] == b["loss_history"] and a["grid"] == b["grid"]


def test_a_steps_override_is_recorded_so_the_scene_as_run_repeats_it(tmp_path: Path) -> None:
    first = run_scene(write(tmp_path, PHYSICAL), output=tmp_path / "first", steps=2)
    recorded = yaml.safe_load((first / "scene.yaml").read_text())
    assert recorded["attack"]["budget"]["steps"] == 2 and recorded["seed"] == 3
    again = run_scene(first / "scene.yaml", output=tmp_path / "again")

    def metrics(run: Path) -> dict[str, Any]:
        m = json.loads((run / "metrics.json").read_text())
        return {k: v for k, v in m.items() if k != "seconds"}

    assert metrics(again) == metrics(first)


def test_existing_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("earlier result")
    result = CliRunner().invoke(cli, ["run", str(write(tmp_path, PHYSICAL)), "-o", str(run)])
    assert result.exit_code == 2
    assert "never overwritten" in result.output and len(result.output.strip().splitlines()) == 1
    assert (run / "keep.txt").read_text() == "earlier result"


def test_bad_scene_fails_before_any_work(tmp_path: Path) -> None:
    bad = {**PHYSICAL, "attack": {**PHYSICAL["attack"], "name": "rp3"}}
    result = CliRunner().invoke(cli, ["run", str(write(tmp_path, bad)), "-o",
                                      str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "attack.name: unknown attack 'rp3' (available:" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_unknown_target_class_names_classes(tmp_path: Path) -> None:
    bad = {**PHYSICAL, "attack": {**PHYSICAL["attack"], "target": "speed_limit_99"}}
    with pytest.raises(UserError, match=r"attack\.target: unknown class 'speed_limit_99'"):
        run_scene(write(tmp_path, bad), output=tmp_path / "run")


def test_errors_found_while_building_name_the_scene_file(tmp_path: Path) -> None:
    bad = {**PHYSICAL, "attack": {**PHYSICAL["attack"],
                                  "options": {**PHYSICAL["attack"]["options"],
                                              "area_fraction": 5}}}
    path = write(tmp_path, bad)
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2 and result.stderr.startswith(
        f"Error: {path}: attack 'rp2' options: area_fraction: ")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_an_unsupported_norm_in_a_sweep_fails_before_any_attack_runs(tmp_path: Path) -> None:
    sweep = {"name": "toy_sweep", "classifier": {"name": "toy_linear"}, "data": {"n": 4},
             "sweep": {"attacks": [{"name": "fgsm"},
                                   {"name": "cw_l2", "budget": {"norm": "linf"}}]}}
    result = CliRunner().invoke(cli, ["run", str(write(tmp_path, sweep)), "-o",
                                      str(tmp_path / "run")])
    assert result.exit_code == 2 and result.stderr.startswith(
        "Error: ") and "sweep.attacks[1]: attack 'cw_l2': norm 'linf' is not supported " \
        "(supported: l2)" in result.stderr
    assert not (tmp_path / "run.partial").exists()


def test_a_sweep_target_error_names_its_attack(tmp_path: Path) -> None:
    sweep = {"name": "toy_sweep", "classifier": {"name": "toy_linear"}, "data": {"n": 4},
             "sweep": {"attacks": [{"name": "fgsm"},
                                   {"name": "fgsm", "mode": "targeted", "target": "eleven"}]}}
    with pytest.raises(UserError, match=r"scene.yaml: sweep\.attacks\[1\]\.target: unknown "
                                        r"class 'eleven'"):
        run_scene(write(tmp_path, sweep), output=tmp_path / "run")


@pytest.mark.parametrize(("where", "args", "message"), [
    ("option", ["--device", "mps"], "Error: --device: not a device name: 'mps'"),
    ("scene", [], "scene.yaml: device: not a device name: 'meta'"),
])
def test_devices_other_than_cpu_and_cuda_are_refused(tmp_path: Path, where: str,
                                                     args: list[str], message: str) -> None:
    scene = {**PHYSICAL, "device": "meta"} if where == "scene" else PHYSICAL
    result = CliRunner().invoke(cli, ["run", str(write(tmp_path, scene)), "-o",
                                      str(tmp_path / "run"), *args])
    assert result.exit_code == 2 and message in result.stderr and result.stderr[-1] == "\n"
    assert result.stderr.count("\n") == 1 and not (tmp_path / "run.partial").exists()


class _Observer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def on_run_start(self, scenario: Any) -> None:
        self.calls.append(f"start:{scenario.scene.name}")

    @hookimpl
    def on_run_end(self, scenario: Any, result: Any) -> None:
        self.calls.append(f"end:{result.metrics['scene']}")


def test_run_observers_fire_once_per_run(tmp_path: Path) -> None:
    obs = _Observer()
    pm.register(obs, name="observer")
    try:
        run_scene(write(tmp_path, PHYSICAL), output=tmp_path / "run")
    finally:
        pm.unregister(name="observer")
    assert obs.calls == ["start:toy_physical", "end:toy_physical"]


@pytest.mark.parametrize("stop_after", [1, 2, 5])
def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path, monkeypatch: Any,
                                                    stop_after: int) -> None:
    """Ctrl-C after N steps (also at RP2's phase boundary, N = 2) leaves a checkpoint;
    --resume finishes with exactly the uninterrupted run's result."""
    path = write(tmp_path, PHYSICAL)
    whole = run_scene(path, output=tmp_path / "whole")
    saves = {"n": 0}
    original = CheckpointStore.save

    def save_then_interrupt(self: CheckpointStore, state: dict[str, Any]) -> None:
        original(self, state)
        saves["n"] += 1
        if saves["n"] == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(CheckpointStore, "save", save_then_interrupt)
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "cut")])
    assert result.exit_code == 130 and "--resume" in result.output
    work = tmp_path / "cut.partial"
    assert (work / "checkpoint.pt").is_file() and not (work / "metrics.json").exists()
    assert not (tmp_path / "cut").exists()
    monkeypatch.setattr(CheckpointStore, "save", original)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "cut")])
    assert result.exit_code == 0, result.output
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    for key in ("loss_history", "grid", "random", "attack_success_rate", "forwards"):
        assert a[key] == b[key], key
    assert (whole / "artefact.png").read_bytes() == (tmp_path / "cut" / "artefact.png").read_bytes()
    assert not work.exists() and not (tmp_path / "cut" / "checkpoint.pt").exists()


def test_a_run_interrupted_while_its_report_is_written_resumes(tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    import physsim.report

    path = write(tmp_path, PHYSICAL)
    whole = run_scene(path, output=tmp_path / "whole")
    original = physsim.report.write_report

    def write_then_interrupt(*args: Any) -> None:
        original(*args)  # renders/ and the rest are there when the kill comes
        raise KeyboardInterrupt

    monkeypatch.setattr(physsim.report, "write_report", write_then_interrupt)
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "cut")])
    # this used to be "Aborted!" (exit 1) with no checkpoint, and the resume then failed on
    # the existing renders/ folder with a traceback
    assert result.exit_code == 130 and "physsim run --resume" in result.output
    assert (tmp_path / "cut.partial" / "renders").is_dir()
    monkeypatch.setattr(physsim.report, "write_report", original)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "cut")])
    assert result.exit_code == 0, result.output
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert a["attack_success_rate"] == b["attack_success_rate"] and a["grid"] == b["grid"]
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == \
        sorted(p.name for p in whole.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    # the scene was ignored: the run finished some other scene
    (["stop_sign_poster", "--resume", "cut"], "--resume takes no SCENE and no other options"),
    # the printed resume command could not find the run
    (["SCENE", "-o", "x.partial"], "x.partial: a run directory's name may not end in .partial"),
    # a traceback (PosixPath('.') has an empty name)
    (["--resume", "."], "not a physsim run (no manifest.json)"),
    (["--resume", "/"], "/: not a run directory"),
])
def test_run_directory_names_that_cannot_work(tmp_path: Path, monkeypatch: Any,
                                              args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    scene = write(tmp_path, PHYSICAL)
    args = [str(scene) if a == "SCENE" else a for a in args]
    result = CliRunner().invoke(cli, ["run", *args])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]


def test_a_target_that_is_the_objects_own_class_is_refused(tmp_path: Path) -> None:
    scene = {**PHYSICAL, "attack": {**PHYSICAL["attack"], "target": "class0"}}
    # this used to run, and report a perfect targeted success
    with pytest.raises(UserError, match=r"scene\.yaml: attack\.target: the target 'class0' is "
                                        r"the object's own class"):
        run_scene(write(tmp_path, scene), output=tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]


def test_an_error_found_as_the_run_starts_names_the_scene_and_leaves_nothing(
        tmp_path: Path, monkeypatch: Any) -> None:
    import physsim.evaluate

    def late(*args: Any, **kwargs: Any) -> None:  # e.g. too few images left to calibrate
        raise UserError("found only as the work ran", "defenses")

    # such an error used to name no file and leave run.partial behind, which blocked the
    # next run with that name and could not be resumed either
    monkeypatch.setattr(physsim.evaluate, "evaluate_scenario", late)
    path = write(tmp_path, {"name": "late", "classifier": {"name": "toy_linear"},
                            "data": {"n": 4}, "attack": {"name": "fgsm"}})
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: defenses: found only as the work ran\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]
    monkeypatch.undo()
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("attack", "message"), [
    # one_pixel's eps is a number of pixels; it was checked only once the attack ran, after
    # the attacks before it in a sweep
    ({"name": "one_pixel", "budget": {"norm": "l0", "eps": 0.5, "steps": 2}},
     "attack 'one_pixel' budget.eps: eps is the number of pixels"),
    # the patch replaces what lies under it: an eps of 0.01 was reported and never kept
    ({"name": "adversarial_patch", "budget": {"norm": "linf", "eps": 0.01, "steps": 2}},
     "attack 'adversarial_patch' budget.eps: the patch replaces what lies under it"),
])
def test_a_budget_the_attack_cannot_keep_is_refused_before_any_work(
        tmp_path: Path, attack: dict, message: str) -> None:
    scene = {"name": "budgets", "classifier": {"name": "toy_linear"}, "data": {"n": 4},
             "sweep": {"attacks": [{"name": "fgsm"}, attack]}}
    with pytest.raises(UserError, match=r"scene\.yaml: sweep\.attacks\[1\]: " + message):
        run_scene(write(tmp_path, scene), output=tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]


def test_resume_needs_an_interrupted_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no interrupted run here" in result.output
    run = run_scene(write(tmp_path, PHYSICAL), output=tmp_path / "done")
    result = CliRunner().invoke(cli, ["run", "--resume", str(run)])
    assert result.exit_code == 2 and "finished already" in result.output


PATCH = {
    "name": "toy_patch",
    "patch": {"objects": ["toy_disc"], "size": 0.4, "resolution": 8, "texture_px": 32},
    "classifier": {"name": "toy_linear"},
    "attack": {"name": "adversarial_patch", "mode": "targeted", "target": "class1",
               "budget": {"eps": 1.0, "steps": 3}},
    "eot": EOT,
    "evaluation": {"grid": {"distance_m": [2.0], "yaw_deg": [0, 30], "draws": 2},
                   "random_samples": 4},
}


def test_patch_run_reports_per_class_success(tmp_path: Path) -> None:
    run = run_scene(write(tmp_path, PATCH), output=tmp_path / "run")
    m = json.loads((run / "metrics.json").read_text())
    assert m["target_class"] == "class1" and m["steps"] == 3
    assert [c["object"] for c in m["per_class"]] == ["toy_disc"]
    assert m["per_class"][0]["n"] == 4 and len(m["grid"]) == 2
    # a circle 0.4 of the side at scale up to 1.1 on a disc: (0.44^2 pi/4) / (pi/4) of the face
    assert m["perturbation_area_fraction"] == pytest.approx(0.44**2, rel=0.15)
    patch = np.asarray(Image.open(run / "artefact.png"))
    assert patch.shape == (8, 8, 4) and patch[0, 0, 3] == 0 and patch[4, 4, 3] == 255
    assert "Success per source class" in (run / "report.html").read_text()


def test_patch_starts_mid_grey(tmp_path: Path) -> None:
    # one Adam step moves each logit by about the learning rate: the patch stays near grey
    attack = {**PATCH["attack"], "budget": {"eps": 1.0, "steps": 1}, "options": {"lr": 0.05}}
    run = run_scene(write(tmp_path, {**PATCH, "attack": attack}), output=tmp_path / "run")
    patch = np.asarray(Image.open(run / "artefact.png")).astype(float) / 255
    inside = patch[..., 3] > 0
    assert inside.sum() > 20
    assert np.abs(patch[..., :3][inside] - 0.5).max() < 0.03


def test_patch_sized_by_face_area_covers_that_share_of_every_face(tmp_path: Path) -> None:
    scene = {**PATCH, "patch": {"objects": ["toy_disc", "toy_square"], "face_area": 0.1,
                                "resolution": 8, "texture_px": 32}}
    sc = build_scenario(parse_scene(scene, "toy"))
    pr = sc.patch
    # put a white and a black patch on both objects, centred, at the top of the scale range:
    # their difference is how much of each texel the patch covers
    params = {"object": torch.tensor([0, 1]), "scale": torch.full((2,), 1.1),
              "rotation_deg": torch.zeros(2), "center": torch.zeros(2, 2)}
    white, black = (pr.place(torch.full((3, 8, 8), v), params) for v in (1.0, 0.0))
    covered = (white - black)[:, 0].flatten(1).sum(1) / pr.textures[:, 3].flatten(1).sum(1)
    assert covered.tolist() == pytest.approx([0.1, 0.1], rel=0.1)
    assert pr.sizes[0] < pr.sizes[1]  # a disc has less face than a square: a smaller patch
    assert pr.area_fraction() == pytest.approx(0.1, rel=0.02)
    run = run_scene(write(tmp_path, scene), output=tmp_path / "run")
    m = json.loads((run / "metrics.json").read_text())
    assert m["perturbation_area_fraction"] == pytest.approx(0.1, rel=0.02)
    assert [c["patch_size"] for c in m["per_class"]] == pytest.approx(pr.sizes.tolist())


def test_printed_photo_reports_destruction_rates(tmp_path: Path) -> None:
    scene = {"name": "toy_photo", "classifier": {"name": "toy_linear"},
             "data": {"n": 12, "print_size_mm": 100},
             "sweep": {"eps": [0.1], "attacks": [{"name": "fgsm", "budget": {"steps": 1}},
                                                 {"name": "bim", "budget": {"steps": 3}}]},
             "eot": {"samples": 1, "transforms": [{"pose": {"distance_m": 0.5}},
                                                  {"crop": {"margin": 0.02}},
                                                  {"jpeg": {"quality": 80}}]}}
    run = run_scene(write(tmp_path, scene), output=tmp_path / "run")
    rows = json.loads((run / "sweep.json").read_text())
    assert [r["attack"] for r in rows] == ["fgsm", "bim"]
    for r in rows:
        assert 0 <= r["photo_clean_accuracy"] <= 1
        assert r["destruction_rate"] != r["destruction_rate"] or 0 <= r["destruction_rate"] <= 1
    assert (run / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "destruction_rate" in (run / "report.html").read_text()


def test_manifest_records_the_files_the_eot_steps_read(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.full((24, 32, 3), 60 * i, np.uint8)).save(photos / f"{i}.png")
    profile = tmp_path / "my_printer.json"
    profile.write_text((Path(__file__).parents[1] / "physsim/eot/profiles/default.json")
                       .read_text())
    transforms = [{"pose": {"distance_m": [1.0, 4.0], "yaw_deg": [-30, 30]}}, {"crop": {}},
                  {"printer": {"profile": str(profile)}},
                  {"background": {"kind": "image", "images": [str(photos)]}}]
    scene = PHYSICAL | {"eot": EOT | {"transforms": transforms}}
    run = run_scene(write(tmp_path, scene), output=tmp_path / "run")
    inputs = json.loads((run / "manifest.json").read_text())["eot_inputs"]
    assert inputs["background"]["images"] == [str(photos / "0.png"), str(photos / "1.png")]
    assert isinstance(inputs["background"]["images_id"], int)
    digest = hashlib.sha256(profile.read_bytes()).hexdigest()
    assert inputs["printer"] == {"profile": str(profile), "sha256": digest}
    # a shipped profile and a procedural background read no files of the user's
    plain = run_scene(write(tmp_path, PHYSICAL, "plain.yaml"), output=tmp_path / "plain")
    assert "eot_inputs" not in json.loads((plain / "manifest.json").read_text())


def test_an_evaluation_grid_too_near_the_camera_fails_before_the_attack(tmp_path: Path) -> None:
    scene = PHYSICAL | {"evaluation": {"grid": {"distance_m": [0.05, 3.0], "yaw_deg": [0, 30]}}}
    with pytest.raises(UserError, match=r"evaluation\.grid: at 0\.05 m, turned up to 30 "
                                        r"degrees of yaw .* the 300 x 300 mm object could come "
                                        r"within 1 cm of the camera"):
        run_scene(write(tmp_path, scene), output=tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]  # no run, no .partial


def test_resume_refuses_photos_changed_since_the_run_began(tmp_path: Path,
                                                          monkeypatch: Any) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(photos / "a.png")
    transforms = [{"pose": {"distance_m": [1.0, 4.0]}}, {"crop": {}},
                  {"background": {"kind": "image", "images": [str(photos)]}}]
    path = write(tmp_path, PHYSICAL | {"eot": EOT | {"transforms": transforms}})
    original = CheckpointStore.save

    def save_then_interrupt(self: CheckpointStore, state: dict[str, Any]) -> None:
        original(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(CheckpointStore, "save", save_then_interrupt)
    result = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "cut")])
    assert result.exit_code == 130, result.output
    monkeypatch.setattr(CheckpointStore, "save", original)
    Image.fromarray(np.full((24, 32, 3), 200, np.uint8)).save(photos / "b.png")
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "cut")])
    assert result.exit_code == 2 and "the EOT step 'background' reads are not those the run " \
        "began with" in result.output
    (photos / "b.png").unlink()  # the same contents again, under another name: the run finishes
    (photos / "a.png").rename(photos / "c.png")
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "cut")])
    assert result.exit_code == 0, result.output


def test_an_evaluation_grid_needs_a_pose_step(tmp_path: Path) -> None:
    scene = PHYSICAL | {"eot": EOT | {"transforms": [{"crop": {}}]}}
    with pytest.raises(UserError, match=r"evaluation\.grid: the grid gives pose\.distance_m and "
                                        r"pose\.yaw_deg: the eot: section needs a pose step"):
        run_scene(write(tmp_path, scene), output=tmp_path / "run")
    assert not (tmp_path / "run.partial").exists()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))])
def test_physical_and_patch_scenes_run_on_the_device_and_record_it(tmp_path: Path,
                                                                    device: str) -> None:
    # the whole path (attack, EOT objective, evaluation grid, report) on the scene's device;
    # on the CPU, the patch scene with an explicit device (the physical one is above)
    scenes = {"patch": PATCH} if device == "cpu" else {"physical": PHYSICAL, "patch": PATCH}
    for name, scene in scenes.items():
        run = run_scene(write(tmp_path, {**scene, "device": device}, f"{name}.yaml"),
                        output=tmp_path / name)
        m = json.loads((run / "metrics.json").read_text())
        assert 0 <= m["attack_success_rate"] <= 1 and 0 < m["perturbation_area_fraction"] <= 1
        assert yaml.safe_load((run / "scene.yaml").read_text())["device"] == device
