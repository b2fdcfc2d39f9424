"""Training and evaluating a universal patch: per source class, at held-out poses.

The evaluation seed is never used in training. Every object is drawn the same number of
times; the patched and the clean object are rendered under the same physical conditions.
"""

from __future__ import annotations

from typing import Any

import torch

from physsim.attack import Goal
from physsim.evaluate import _progress
from physsim.objective import ClassifierObjective
from physsim.runner import RunResult, Scenario, budget_of, class_index


def attack_patch(sc: Scenario, steps: int | None, callback: Any) -> Any:
    """Optimise one universal patch over every object, pose and background."""
    spec, attack = sc.attacks[0]
    pr = sc.patch
    assert spec.target is not None
    target = class_index(sc.classifier, spec.target, "attack.target")
    gen = torch.Generator(device=sc.device).manual_seed(sc.seed)
    objective = ClassifierObjective(sc.classifier, sc.classifier.num_classes, renderer=pr,
                                    samples=pr.pipeline.samples, chunk=pr.pipeline.chunk,
                                    generator=gen)
    p = pr.mask.shape[-1]
    # mid-grey: a random start in [0, 1] puts many of the patch's logits, which the attack
    # optimises, where the sigmoid is flat (docs/scenes.md has what that cost on sign_patch)
    x0 = torch.full((1, 3, p, p), 0.5, device=sc.device)
    t = torch.tensor([target], device=sc.device)
    return attack.run(objective, x0, Goal("targeted", t, t), budget_of(spec, steps),
                      mask=pr.mask.expand(1, 3, p, p), generator=gen, callback=callback,
                      early_stop=spec.early_stop)


def _logits(sc: Scenario, textures: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    sizes = sc.patch.size_mm.to(textures)[params["object"]]
    with torch.no_grad():
        out: torch.Tensor = sc.classifier(sc.patch.pipeline.render_pairs(textures, sizes,
                                                                         params["eot"]))
    return out


def evaluate_patch(sc: Scenario, steps: int | None = None) -> RunResult:
    """Train the patch, then measure targeted success per source class and over the grid."""
    spec, attack = sc.attacks[0]
    bar, callback = _progress(attack.total_steps(budget_of(spec, steps)), f"attack {spec.name}")
    with bar:
        result = attack_patch(sc, steps, callback)
    patch = result.x_adv.detach()[0]
    pr, ev = sc.patch, sc.scene.evaluation
    target = class_index(sc.classifier, str(spec.target), "attack.target")
    names = sc.scene.patch.objects if sc.scene.patch else []
    g = torch.Generator(device=sc.device).manual_seed(ev.seed)
    per_class, draws = [], max(ev.random_samples // max(len(names), 1), 1)
    for i, name in enumerate(names):
        params = pr.sample(draws, g, objects=torch.full((draws,), i))
        clean = _logits(sc, pr.textures[params["object"]], params).argmax(-1)
        hit = _logits(sc, pr.place(patch, params), params).argmax(-1) == target
        true = pr.labels[i]
        per_class.append({"object": name, "label": sc.classifier.labels[true], "n": draws,
                          "patch_size": float(pr.sizes[i]),
                          "success_rate": hit.float().mean().item(),
                          "clean_accuracy": (clean == true).float().mean().item()})
    sources = [c for c in per_class if c["label"] != sc.classifier.labels[target]]
    grid = []
    for d in ev.grid.distance_m:
        for y in ev.grid.yaw_deg:
            params = pr.sample(ev.grid.draws, g, fixed={"pose.distance_m": d, "pose.yaw_deg": y})
            hit = _logits(sc, pr.place(patch, params), params).argmax(-1) == target
            grid.append({"distance_m": d, "yaw_deg": y, "n": ev.grid.draws,
                         "success_rate": hit.float().mean().item()})
    metrics = {
        "scene": sc.scene.name, "classifier": sc.scene.classifier.name, "attack": spec.name,
        "mode": spec.mode, "target_class": sc.classifier.labels[target],
        "attack_success_rate": sum(c["success_rate"] for c in sources) / max(len(sources), 1),
        "clean_accuracy": sum(c["clean_accuracy"] for c in per_class) / len(per_class),
        "perturbation_area_fraction": pr.area_fraction(),
        "per_class": per_class, "grid": grid, "steps": len(result.loss_history),
        "loss_history": result.loss_history, "evaluation_seed": ev.seed,
    }
    return RunResult(metrics, artefact=patch, attack_results=[result])

