"""Defenses against a physical attack: the object's artefact, made with and without knowing
the defense, judged by each defended system over the held-out grid.

The non-adaptive artefact is optimised once, against the undefended classifier. Each
adaptive one is optimised through the EOT renderer *and* the defense (BPDA for
non-differentiable transformations; EOT already averages randomised ones; detectors add their
penalty). Every system sees the same held-out draws: one generator seed per grid.
"""

from __future__ import annotations

from typing import Any

import torch

from physsim.attack import Goal
from physsim.defense_eval import DefendedSystem, systems_for
from physsim.defense_matrix import finish_matrix, rates
from physsim.defense_objective import DefendedObjective
from physsim.evaluate import _progress
from physsim.runner import RunResult, Scenario, attack_object, budget_of, class_index, goal_for


def attack_through(sc: Scenario, system: DefendedSystem, goal: Goal,
                   steps: int | None) -> torch.Tensor:
    """The adaptive artefact: the scene's attack with ``system`` inside the EOT objective."""
    assert sc.obj is not None
    spec, attack = sc.attacks[0]
    objective = DefendedObjective(
        system, goal, "bpda", renderer=sc.pipeline, samples=sc.pipeline.samples,
        chunk=sc.pipeline.chunk, generator=torch.Generator(device=sc.device).manual_seed(sc.seed))
    bar, callback = _progress(attack.total_steps(budget_of(spec, steps)),
                              f"adaptive {spec.name} vs {system.name}")
    with bar:
        result = attack.run(objective, sc.obj.texture[:3].unsqueeze(0), goal,
                            budget_of(spec, steps), mask=sc.mask,
                            generator=torch.Generator(device=sc.device).manual_seed(sc.seed),
                            callback=callback, early_stop=spec.early_stop and
                            not system.detectors)
    return result.x_adv.detach()


def grid_verdicts(sc: Scenario, system: DefendedSystem, textures: torch.Tensor,
                  goal: Goal) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, Any]]]:
    """Render T textures over the evaluation grid and judge them with ``system``.

    Returns:
        (per texture, the pooled per-draw verdicts; per cell and texture, the success rate).
    """
    ev = sc.scene.evaluation
    g = torch.Generator(device=sc.device).manual_seed(ev.seed)
    pooled: list[list[dict[str, torch.Tensor]]] = [[] for _ in range(textures.shape[0])]
    cells = []
    label = goal.labels[:1]
    for d in ev.grid.distance_m:
        for yaw in ev.grid.yaw_deg:
            params = sc.pipeline.sample(ev.grid.draws, g,
                                        fixed={"pose.distance_m": d, "pose.yaw_deg": yaw})
            with torch.no_grad():
                images = sc.pipeline.render(textures, params)  # (T, n, 3, h, w)
            n = images.shape[1]
            cell_goal = Goal(goal.mode, label.expand(n),
                             None if goal.targets is None else goal.targets[:1].expand(n))
            for t in range(textures.shape[0]):
                with torch.no_grad():
                    logits = system.logits(images[t], "true")
                flagged = system.flagged(images[t])
                achieved = cell_goal.achieved(logits.unsqueeze(1))[:, 0]
                pred = logits.argmax(-1)
                verdict = {"pred": pred, "flagged": flagged, "achieved": achieved,
                           "success": achieved & ~flagged,
                           "robust": (pred == label) | flagged}
                pooled[t].append(verdict)
                cells.append({"defense": system.name, "texture": t, "distance_m": d,
                              "yaw_deg": yaw, "success_rate":
                              verdict["success"].float().mean().item()})
    merged = [{k: torch.cat([v[k] for v in per]) for k in per[0]} for per in pooled]
    return merged, cells


def evaluate_defended_physical(sc: Scenario, steps: int | None = None) -> RunResult:
    """The object's attack against each defense, non-adaptive and adaptive, over the grid."""
    assert sc.obj is not None
    spec, attack = sc.attacks[0]
    bar, callback = _progress(attack.total_steps(budget_of(spec, steps)), f"attack {spec.name}")
    with bar:
        base_result = attack_object(sc, steps, callback)
    label = class_index(sc.classifier, sc.obj.label, "object.label")
    goal = goal_for(sc, spec, torch.tensor([label], device=sc.device))
    clean = sc.obj.texture[:3].unsqueeze(0)
    x_na = base_result.x_adv.detach()
    adaptive = sc.scene.adaptive
    rows, grid = [], []
    for system in systems_for(sc):
        textures = [clean, x_na]
        if adaptive in ("both", True) and system.name != "none":
            textures.append(attack_through(sc, system, goal, steps))
        verdicts, cells = grid_verdicts(sc, system, torch.cat(textures), goal)
        grid += [{**c, "texture": ("clean", "non_adaptive", "adaptive")[c["texture"]]}
                 for c in cells]
        c = verdicts[0]
        row: dict[str, Any] = {"defense": system.name, "kind": system.kind,
                               "attack": spec.name, "mode": spec.mode,
                               "eps": spec.budget.eps, "norm": spec.budget.norm,
                               "clean_accuracy": (c["pred"] == label).float().mean().item()}
        if system.detectors:
            row["clean_flagged"] = c["flagged"].float().mean().item()
        if adaptive in ("both", False) or system.name == "none":
            row.update(rates(system, verdicts[1], "non_adaptive"))
        if adaptive in ("both", True):
            row.update(rates(system, verdicts[-1], "adaptive"))
        # the plain white-box and black-box probes run in the digital matrix only
        row["gradient_masking"], row["masking_reasons"] = None, "not checked (physical scene)"
        rows.append(row)
    undefended = [{**c, "n": sc.scene.evaluation.grid.draws} for c in grid
                  if c["defense"] == "none" and c["texture"] == "non_adaptive"]
    result = finish_matrix(sc, rows, {
        "object": sc.obj.name, "target_class": sc.scene.attack.target if sc.scene.attack
        else None, "grid": undefended, "loss_history": base_result.loss_history,
        "defense_grid": grid})
    result.artefact = x_na[0]
    result.attack_results = [base_result]
    return result
