"""Defended systems, adaptive objectives and the defense matrix (digits and toy components)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from physsim_attacks.pgd import pgd
from physsim_defenses.attribution import MLLOO
from physsim_defenses.defense_gan import DefenseGAN
from physsim_defenses.magnet import MagNetDetector
from physsim_defenses.squeeze import Threshold
from toy_plugin import ToyLinear, toy_plugin

from physsim.attack import Budget, Goal
from physsim.classifier import Classifier
from physsim.defense_eval import DefendedSystem, judge
from physsim.defense_objective import EOT_DRAWS, DefendedObjective
from physsim.errors import UserError
from physsim.hookspecs import hookimpl
from physsim.objective import ClassifierObjective
from physsim.plugins import pm
from physsim.runner import build_scenario, run_scene
from physsim.scene import load_scene
from physsim.testing import linear_toy_classifier


def test_bpda_gradient_flows_where_plain_autograd_sees_nothing(
        digits_cnn: Classifier, digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = digits[0][:8], digits[1][:8]
    system = DefendedSystem("threshold", digits_cnn, [Threshold()])
    goal = Goal("untargeted", y)
    _, bpda, _ = DefendedObjective(system, goal, "bpda").value_and_grad(x, goal.loss)
    _, naive, _ = DefendedObjective(system, goal, "naive").value_and_grad(x, goal.loss)
    assert torch.isfinite(bpda).all() and bpda.abs().sum() > 0
    assert naive.abs().sum() == 0


def test_randomised_defense_is_attacked_with_eot(digits_cnn: Classifier,
                                                  digits: tuple[torch.Tensor, torch.Tensor]
                                                  ) -> None:
    system = DefendedSystem("defense_gan", digits_cnn, [DefenseGAN({"steps": 5, "restarts": 1})])
    goal = Goal("untargeted", digits[1][:3])
    objective = DefendedObjective(system, goal, "bpda")
    logits = objective.logits(digits[0][:3])
    assert objective.samples == EOT_DRAWS and logits.shape == (3, EOT_DRAWS, 10)
    # fresh latents per draw: the draws differ
    assert (logits[:, 0] - logits[:, 1]).abs().amax() > 0


def test_detector_calibration_hits_its_fpr_on_heldout_clean(
        digits_cnn: Classifier, digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x = digits[0]
    calib, heldout = x[::2], x[1::2]
    for detector in (MagNetDetector(), MLLOO()):
        detector.calibrate(calib, digits_cnn, fpr=0.1)
        rate = detector.detect(heldout, digits_cnn).float().mean().item()
        assert abs(rate - 0.1) <= 0.06, (detector.name, rate)


def test_detector_penalty_is_zero_on_clean_and_pulls_on_noise(
        digits_cnn: Classifier, digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x = digits[0]
    system = DefendedSystem("magnet", digits_cnn, detectors=[MagNetDetector()], fpr=[0.05])
    system.calibrate(x[:200])
    assert (system.penalty(x[200:]) == 0).float().mean() > 0.8
    noisy = (x[200:210] + 0.3 * torch.rand(10, 3, 8, 8, generator=torch.Generator()
                                           .manual_seed(0))).clamp(0, 1).requires_grad_(True)
    pen = system.penalty(noisy)
    assert (pen > 0).all()
    (grad,) = torch.autograd.grad(pen.sum(), noisy)
    assert grad.abs().sum() > 0


def test_adaptive_beats_non_adaptive_on_thresholding(
        digits_cnn: Classifier, digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = digits[0][:20], digits[1][:20]
    goal, budget = Goal("untargeted", y), Budget("linf", 0.3, 40)
    system = DefendedSystem("threshold", digits_cnn, [Threshold()])
    transfer = pgd(ClassifierObjective(digits_cnn, 10), x, goal, budget).x_adv
    adaptive = pgd(DefendedObjective(system, goal, "bpda"), x, goal, budget).x_adv
    naive = pgd(DefendedObjective(system, goal, "naive"), x, goal, budget).x_adv
    rate = {name: judge(system, adv, y, goal)["success"].float().mean().item()
            for name, adv in (("transfer", transfer), ("adaptive", adaptive), ("naive", naive))}
    assert rate["adaptive"] >= rate["transfer"] + 0.1, rate
    assert rate["naive"] < rate["transfer"], rate


DIGITS_SCENE: dict[str, Any] = {
    "name": "tiny_matrix",
    "seed": 0,
    "classifier": {"name": "digits_cnn"},
    "data": {"n": 16, "seed": 3},
    "attack": {"name": "pgd", "budget": {"norm": "linf", "eps": 0.15, "steps": 5}},
    "defenses": [{"name": "threshold"}, {"name": "magnet_detector"},
                 {"name": "adv_train_fgsm"}],
}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_matrix_builder_writes_both_settings_side_by_side(tmp_path: Path) -> None:
    run = run_scene(_write(tmp_path, DIGITS_SCENE), output=tmp_path / "run")
    with (run / "defense_matrix.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["defense"] for r in rows] == ["none", "threshold", "magnet_detector",
                                            "adv_train_fgsm"]
    for r in rows:
        assert r["non_adaptive_success"] != "" and r["adaptive_success"] != ""
    m = json.loads((run / "metrics.json").read_text())
    by_name = {s["defense"]: s for s in m["defense_summary"]}
    # rounding has no gradient: plain white-box attacks see nothing, BPDA does
    assert by_name["threshold"]["gradient_masking"] is True
    assert 0 <= by_name["magnet_detector"]["clean_flagged"] <= 0.3
    # a detector has no plain white-box attack to compare with: not checked, rather than False
    assert by_name["magnet_detector"]["gradient_masking"] is None
    assert by_name["magnet_detector"]["masking_reasons"] == "not checked (a detector)"
    assert json.loads((run / "defense_matrix.json").read_text()) == m["defense_matrix"]
    html = (run / "report.html").read_text()
    assert "Defense matrix" in html and "adaptive_success" in html
    assert "Attack success against each defense" in html


def test_adaptive_false_reports_only_the_transfer(tmp_path: Path) -> None:
    scene = {**DIGITS_SCENE, "adaptive": False, "defenses": [{"name": "bit_depth"}]}
    run = run_scene(_write(tmp_path, scene), output=tmp_path / "run")
    rows = json.loads((run / "defense_matrix.json").read_text())
    assert "adaptive_success" not in rows[1] and "non_adaptive_success" in rows[1]
    # nothing was attacked through the defense, so masking was not checked (it said False)
    assert rows[1]["gradient_masking"] is None
    assert rows[1]["masking_reasons"] == "not checked (adaptive: false)"


PHYSICAL_SCENE: dict[str, Any] = {
    "name": "toy_defended",
    "seed": 1,
    "object": {"name": "toy_disc"},
    "classifier": {"name": "toy_linear"},
    "attack": {"name": "rp2", "mode": "targeted", "target": "class2",
               "budget": {"eps": 1.0, "steps": 3},
               "options": {"sensitivity_steps": 2, "finetune_steps": 1,
                           "area_fraction": 0.3}},
    "eot": {"samples": 2, "camera": {"fov_deg": 50, "resolution": [640, 480]},
            "transforms": [{"pose": {"distance_m": [1.0, 3.0]}}]},
    "evaluation": {"grid": {"distance_m": [1.5, 3.0], "yaw_deg": [0], "draws": 2},
                   "random_samples": 0},
    "defenses": [{"name": "bit_depth"}, {"name": "ml_loo", "fpr": 0.1}],
}


@pytest.fixture
def toys() -> Iterator[None]:
    with toy_plugin():
        yield


@pytest.mark.usefixtures("toys")
def test_physical_scene_attacks_each_defense_through_the_renderer(tmp_path: Path) -> None:
    run = run_scene(_write(tmp_path, PHYSICAL_SCENE), output=tmp_path / "run")
    m = json.loads((run / "metrics.json").read_text())
    rows = m["defense_matrix"]
    assert [r["defense"] for r in rows] == ["none", "bit_depth", "ml_loo(fpr=0.1)"]
    assert all("adaptive_success" in r and "non_adaptive_success" in r for r in rows)
    assert "clean_flagged" in rows[2] and len(m["grid"]) == 2
    assert {c["texture"] for c in m["defense_grid"]} == {"clean", "non_adaptive", "adaptive"}
    assert (run / "artefact.png").exists() and (run / "defense_matrix.csv").exists()


class _NoData(ToyLinear):
    name = "toy_nodata"
    heldout = None  # type: ignore[assignment]


class _Wide(ToyLinear):
    name = "toy_wide"

    @classmethod
    def create(cls, options: Any = None) -> Classifier:
        return linear_toy_classifier(size=16)


class _Extra:
    @hookimpl
    def register_classifiers(self, register: Callable[[type[Classifier]], None]) -> None:
        register(_NoData)
        register(_Wide)


@pytest.mark.usefixtures("toys")
@pytest.mark.parametrize(("classifier", "defense", "message"), [
    ("toy_nodata", "ml_loo", "needs clean calibration images"),
    ("toy_linear", "adv_train_pgd", "has no weights for classifier"),
    ("toy_wide", "magnet_reformer", "works on 8x8 images but classifier .* takes 16x16"),
    ("toy_linear", "no_such_defense", "unknown defense"),
])
def test_bad_defenses_fail_before_any_work(tmp_path: Path, classifier: str, defense: str,
                                           message: str) -> None:
    pm.register(_Extra(), name="extra_toys")
    try:
        scene = {**DIGITS_SCENE, "classifier": {"name": classifier},
                 "defenses": [{"name": defense}]}
        with pytest.raises(UserError, match=message):
            run_scene(_write(tmp_path, scene), output=tmp_path / "run")
    finally:
        pm.unregister(name="extra_toys")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_adaptive_setting_is_validated(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="adaptive"):
        run_scene(_write(tmp_path, {**DIGITS_SCENE, "adaptive": "maybe"}))


@pytest.mark.parametrize("name", ["defense_matrix", "defense_matrix_signs",
                                  "defended_stop_sign", "defense_quantisers"])
def test_shipped_defense_scenes_validate(name: str) -> None:
    scene, _ = load_scene(name)
    assert scene.defenses and scene.adaptive == "both"


def test_defense_matrix_scene_builds_with_every_weight() -> None:
    scene, path = load_scene("defense_matrix")
    sc = build_scenario(scene, str(path))
    assert len(sc.defenses) == len(scene.defenses)
    trained = [b for b in sc.defenses if b.classifier is not None]
    assert {b.ref.name for b in trained} == {"adv_train_fgsm", "adv_train_pgd",
                                             "adv_train_ensemble", "distillation",
                                             "label_smoothing"}


def test_one_detector_at_two_false_positive_rates_is_two_rows() -> None:
    # both used to be labelled magnet_detector, and the summary merged them into one line
    from physsim.defense_eval import label
    from physsim.scene import DefenseRef

    assert label(DefenseRef(name="magnet_detector")) == "magnet_detector"
    assert label(DefenseRef(name="magnet_detector", fpr=0.05)) == "magnet_detector"
    assert label(DefenseRef(name="magnet_detector", fpr=0.4)) == "magnet_detector(fpr=0.4)"
    assert label(DefenseRef(name="bit_depth", options={"bits": 2}, fpr=0.1)) == \
        "bit_depth(bits=2,fpr=0.1)"
