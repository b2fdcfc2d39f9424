"""Evaluation: the attack's artefact under held-out physical conditions, or digital metrics.

Physical scenes are evaluated on a seed the attack never saw, over the grid of distances and
angles (each cell with several lighting and camera draws, the same draws for the clean and the
attacked object) plus a random held-out set from the full EOT distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from tqdm import tqdm

from physsim.attack import AttackResult
from physsim.objective import ClassifierObjective
from physsim.runner import (
    RunResult,
    Scenario,
    attack_object,
    budget_of,
    class_index,
    goal_for,
)

#: grid cells whose renders go into the report: (distance_m, yaw_deg) nearest to these
EXAMPLE_CELLS = ((3.0, 0.0), (6.0, 30.0), (12.0, 45.0))


def _progress(total: int, desc: str) -> tuple[tqdm, Callable[..., None]]:
    # disable=None: a bar on a terminal, silence in logs and CI (no line per update)
    bar = tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True,
               disable=None)

    def callback(step: int, x: torch.Tensor, loss: torch.Tensor) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.mean()):.3f}")

    return bar, callback


def _judge(logits: torch.Tensor, label: int, target: int | None) -> torch.Tensor:
    pred = logits.argmax(-1)
    return pred == target if target is not None else pred != label


def _render_pair(sc: Scenario, clean: torch.Tensor, adv: torch.Tensor,
                 params: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Render clean and attacked textures under the same params -> images, logits (2, n, ...)."""
    with torch.no_grad():
        images = sc.pipeline.render(torch.cat([clean, adv]), params)
        logits = sc.classifier(images.flatten(0, 1)).view(2, images.shape[1], -1)
    return images, logits


def evaluate_physical(sc: Scenario, steps: int | None = None) -> RunResult:
    """Attack the object's texture, then measure it on held-out draws over the grid."""
    assert sc.obj is not None
    spec, attack = sc.attacks[0]
    total = attack.total_steps(budget_of(spec, steps))
    bar, callback = _progress(total, f"attack {spec.name}")
    with bar:
        result = attack_object(sc, steps, callback)
    clean = sc.obj.texture[:3].unsqueeze(0)
    adv = result.x_adv.detach()
    label = class_index(sc.classifier, sc.obj.label, "object.label")
    target = goal_for(sc, spec, torch.tensor([label])).targets
    target_idx = int(target[0]) if target is not None else None
    ev = sc.scene.evaluation
    g = torch.Generator(device=sc.device).manual_seed(ev.seed)
    grid, renders = [], []
    examples = {min(((d - cd) ** 2 + (y - cy) ** 2, (d, y)) for d in ev.grid.distance_m
                    for y in ev.grid.yaw_deg)[1] for cd, cy in EXAMPLE_CELLS}
    for d in ev.grid.distance_m:
        for y in ev.grid.yaw_deg:
            params = sc.pipeline.sample(ev.grid.draws, g,
                                        fixed={"pose.distance_m": d, "pose.yaw_deg": y})
            images, logits = _render_pair(sc, clean, adv, params)
            ok = logits[0].argmax(-1) == label
            hit = _judge(logits[1], label, target_idx)
            grid.append({"distance_m": d, "yaw_deg": y, "n": ev.grid.draws,
                         "success_rate": hit.float().mean().item(),
                         "clean_accuracy": ok.float().mean().item()})
            if (d, y) in examples:
                renders.append(_example(sc, images[:, 0], logits[:, 0], d, y))
    n_cells = sum(c["n"] for c in grid)
    metrics: dict[str, Any] = {
        "scene": sc.scene.name,
        "object": sc.obj.name,
        "classifier": sc.scene.classifier.name,
        "attack": spec.name,
        "mode": spec.mode,
        "true_class": sc.obj.label,
        "target_class": sc.classifier.labels[target_idx] if target_idx is not None else None,
        "clean_accuracy": sum(c["clean_accuracy"] * c["n"] for c in grid) / n_cells,
        "attack_success_rate": sum(c["success_rate"] * c["n"] for c in grid) / n_cells,
        "perturbation_area_fraction": area_fraction(clean, adv, sc.obj.texture[3:]),
        "grid": grid,
        "random": _random_heldout(sc, clean, adv, label, target_idx, g),
        "steps": len(result.loss_history),
        "forwards": result.forwards,
        "backwards": result.backwards,
        "loss_history": result.loss_history,
        "evaluation_seed": ev.seed,
    }
    return RunResult(metrics, artefact=adv[0], attack_results=[result], renders=renders)


def area_fraction(clean: torch.Tensor, adv: torch.Tensor, alpha: torch.Tensor) -> float:
    """Fraction of the object's face (alpha > 0.5) whose colour the attack changed."""
    face = alpha[0] > 0.5
    changed = (adv[0] - clean[0]).abs().amax(0) > 1.0 / 255
    return float((changed & face).sum() / face.sum().clamp(min=1))


def _random_heldout(sc: Scenario, clean: torch.Tensor, adv: torch.Tensor, label: int,
                    target: int | None, g: torch.Generator) -> dict[str, Any]:
    n = sc.scene.evaluation.random_samples
    if n == 0:
        return {"n": 0}
    hits, oks = [], []
    for start in range(0, n, sc.scene.evaluation.chunk):
        params = sc.pipeline.sample(min(sc.scene.evaluation.chunk, n - start), g)
        _, logits = _render_pair(sc, clean, adv, params)
        oks.append(logits[0].argmax(-1) == label)
        hits.append(_judge(logits[1], label, target))
    return {"n": n, "success_rate": torch.cat(hits).float().mean().item(),
            "clean_accuracy": torch.cat(oks).float().mean().item()}


def _example(sc: Scenario, images: torch.Tensor, logits: torch.Tensor, d: float,
             y: float) -> dict[str, Any]:
    labels = sc.classifier.labels
    return {"distance_m": d, "yaw_deg": y, "clean": images[0].cpu(), "adv": images[1].cpu(),
            "clean_pred": labels[int(logits[0].argmax())],
            "adv_pred": labels[int(logits[1].argmax())]}


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, logits.shape[-1])
    return (logits.topk(k, -1).indices == labels.view(-1, 1)).any(-1).float().mean().item()


def evaluate_digital(sc: Scenario, steps: int | None = None) -> RunResult:
    """Attack held-out images directly (no EOT); with a sweep, once per attack and epsilon."""
    assert sc.images is not None and sc.labels is not None
    x, y = sc.images, sc.labels
    with torch.no_grad():
        clean_logits = sc.classifier(x)
    rows = []
    results: list[AttackResult] = []
    sweep = sc.scene.sweep
    for spec, attack in sc.attacks:
        for eps in (sweep.eps if sweep and sweep.eps else [spec.budget.eps]):
            budget = budget_of(spec, steps, eps)
            objective = ClassifierObjective(sc.classifier, sc.classifier.num_classes)
            goal = goal_for(sc, spec, y, clean_logits)
            if eps == 0:
                x_adv = x
            else:
                res = attack.run(objective, x, goal, budget,
                                 generator=torch.Generator(device=sc.device).manual_seed(sc.seed),
                                 early_stop=spec.early_stop)
                results.append(res)
                x_adv = res.x_adv
            with torch.no_grad():
                logits = sc.classifier(x_adv)
            row = _row(spec.name, spec.mode, eps, logits, y, goal, x_adv - x, budget.norm)
            if sc.pipeline is not None:
                row.update(_photographed(sc, x, x_adv, clean_logits, logits, y))
            rows.append(row)
    metrics = {
        "scene": sc.scene.name,
        "classifier": sc.scene.classifier.name,
        "n": len(y),
        "clean_accuracy": topk_accuracy(clean_logits, y, 1),
        "clean_top5_accuracy": topk_accuracy(clean_logits, y, 5),
        "results": rows,
    }
    if not sweep:
        metrics["attack_success_rate"] = rows[0]["success_rate"]
    return RunResult(metrics, attack_results=results)


def _row(name: str, mode: str, eps: float, logits: torch.Tensor, y: torch.Tensor, goal: Any,
         delta: torch.Tensor, norm: str) -> dict[str, Any]:
    d = delta.flatten(1)
    norms = {"linf": d.abs().amax(1), "l2": d.norm(dim=1), "l1": d.abs().sum(1),
             "l0": (d.abs() > 1e-8).float().sum(1)}[norm]
    return {"attack": name, "mode": mode, "eps": eps,
            "top1_accuracy": topk_accuracy(logits, y, 1),
            "top5_accuracy": topk_accuracy(logits, y, 5),
            "success_rate": goal.success(logits.unsqueeze(1)).float().mean().item(),
            "median_norm": norms.median().item(), "norm": norm}


def photograph(sc: Scenario, images: torch.Tensor) -> torch.Tensor:
    """Print every image as a flat photo and photograph it -> the classifier's logits.

    The physical conditions come from the evaluation seed, so the k-th clean and the k-th
    attacked image are photographed under the same conditions, whatever the method.
    """
    n = images.shape[0]
    g = torch.Generator(device=sc.device).manual_seed(sc.scene.evaluation.seed)
    params = sc.pipeline.sample(n, g)
    rgba = torch.cat([images, torch.ones_like(images[:, :1])], 1)
    size = torch.tensor(sc.pipeline.size_mm, device=sc.device, dtype=images.dtype).expand(n, 2)
    with torch.no_grad():
        out: torch.Tensor = sc.classifier(sc.pipeline.render_pairs(rgba, size, params))
    return out


def destruction_rate(clean: torch.Tensor, adv: torch.Tensor, photo_adv: torch.Tensor) -> float:
    """Kurakin et al. 2016, eq. 4: the fraction of working adversarial images (the clean one
    classified right, the attacked one wrong) that the photo transformation makes right again.

    Args: (N,) bool tensors: clean right, attacked right, photographed attacked right.
    """
    working = clean & ~adv
    if not working.any():
        return float("nan")
    return float((working & photo_adv).sum() / working.sum())


def _photographed(sc: Scenario, x: torch.Tensor, x_adv: torch.Tensor, clean_logits: torch.Tensor,
                  adv_logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    photo_clean = photograph(sc, x)
    photo_adv = photograph(sc, x_adv)
    right = [lg.argmax(-1) == y for lg in (clean_logits, adv_logits, photo_adv)]
    return {"photo_clean_accuracy": topk_accuracy(photo_clean, y, 1),
            "photo_top1_accuracy": topk_accuracy(photo_adv, y, 1),
            "destruction_rate": destruction_rate(*right)}


def evaluate_scenario(sc: Scenario, steps: int | None = None) -> RunResult:
    """Run the scenario's attack(s) and measure them."""
    if sc.defenses:  # every defense attacked, adaptive and not: physsim.defense_matrix
        from physsim.defense_matrix import evaluate_defended

        return evaluate_defended(sc, steps)
    if sc.obj is not None:
        return evaluate_physical(sc, steps)
    if sc.patch is not None:
        from physsim.evaluate_patch import evaluate_patch

        return evaluate_patch(sc, steps)
    return evaluate_digital(sc, steps)
