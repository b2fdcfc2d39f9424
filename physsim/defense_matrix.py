"""The defense matrix: every attack against every defense, non-adaptive and adaptive side by
side, with the gradient-masking checks of Athalye, Carlini and Wagner (2018,
arXiv:1802.00420, section 3.1).

A defense is flagged as likely *masking* gradients (hiding them rather than being robust) when

- the adaptive (BPDA/EOT) attack is much stronger than plain white-box gradients,
- a black-box attack (Square, Andriushchenko et al. 2020) or the transferred non-adaptive
  attack beats the plain white-box one, or
- plain white-box success does not approach 100% at a large epsilon.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from physsim.attack import Attack, Budget, Goal, Objective
from physsim.defense_eval import DefendedSystem, Mode, judge, systems_for
from physsim.defense_objective import DefendedObjective
from physsim.objective import ClassifierObjective
from physsim.runner import RunResult, Scenario, budget_of, goal_for
from physsim.scene import AttackSpec

#: masking thresholds (fractions of inputs)
ADAPTIVE_GAP = 0.2
BLACK_BOX_GAP = 0.1
LARGE_EPS_SUCCESS = 0.9
#: the probes run on the first inputs only, with this many Square iterations
PROBE_IMAGES = 50
PROBE_QUERIES = 300


def _run(attack: Attack, objective: Objective, x: torch.Tensor, goal: Goal, budget: Budget,
         seed: int, early_stop: bool) -> torch.Tensor:
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return attack.run(objective, x, goal, budget, generator=gen, early_stop=early_stop).x_adv


def attack_system(sc: Scenario, system: DefendedSystem, spec: AttackSpec, attack: Attack,
                  x: torch.Tensor, goal: Goal, budget: Budget, mode: Mode) -> torch.Tensor:
    """Attack ``system`` with its defense inside the objective ("bpda" or "naive").

    Against detectors the adaptive attacker tries both loss schedules of
    :class:`DefendedObjective` and keeps, per input, one that succeeds on the system.
    """
    # success as the attack sees it ignores the detectors, so it must not stop early on it
    early = spec.early_stop and not system.detectors
    if mode != "bpda" or not system.detectors:
        return _run(attack, DefendedObjective(system, goal, mode), x, goal, budget, sc.seed,
                    early)
    joint, sequential = (_run(attack, DefendedObjective(system, goal, mode, schedule=s), x,
                              goal, budget, sc.seed, early) for s in ("joint", "sequential"))
    better = judge(system, sequential, goal.labels, goal)["success"] & \
        ~judge(system, joint, goal.labels, goal)["success"]
    return torch.where(better.view(-1, *[1] * (x.ndim - 1)), sequential, joint)


def rates(system: DefendedSystem, verdict: dict[str, torch.Tensor], prefix: str
          ) -> dict[str, Any]:
    """Success, robust accuracy and (detectors) the detection rate of fooling inputs."""
    out: dict[str, Any] = {f"{prefix}_success": verdict["success"].float().mean().item(),
                           f"{prefix}_robust_accuracy": verdict["robust"].float().mean().item()}
    if system.detectors:
        fooled = verdict["achieved"]
        out[f"{prefix}_detection_tpr"] = (verdict["flagged"][fooled].float().mean().item()
                                          if fooled.any() else None)
    return out


def _gap_reasons(row: dict[str, Any]) -> list[str]:
    """Masking evidence within one row: plain white-box against adaptive and transfer."""
    wb = row.get("white_box_success")
    if wb is None:
        return []
    reasons = []
    ad, na = row.get("adaptive_success"), row.get("non_adaptive_success")
    if ad is not None and ad - wb >= ADAPTIVE_GAP:
        reasons.append(f"{row['attack']}: BPDA/EOT beats plain gradients by "
                       f"{100 * (ad - wb):.0f} points")
    if na is not None and na - wb >= BLACK_BOX_GAP and row["defense"] != "none":
        reasons.append(f"{row['attack']}: the transferred attack beats plain gradients by "
                       f"{100 * (na - wb):.0f} points")
    return reasons


def probe(sc: Scenario, system: DefendedSystem, x: torch.Tensor, goal: Goal, eps: float,
          white_box: torch.Tensor) -> dict[str, Any]:
    """Black-box and large-epsilon probes on the first :data:`PROBE_IMAGES` inputs.

    Args:
        white_box: (N,) per-input success of the plain white-box attack at ``eps``.
    """
    from physsim.plugins import lookup

    n = min(PROBE_IMAGES, x.shape[0])
    xs = x[:n]
    sub = Goal(goal.mode, goal.labels[:n], None if goal.targets is None else goal.targets[:n])
    square = lookup("attack", "square", "defense probe")({})
    true = ClassifierObjective(lambda v: system.logits(v, "true"), system.classifier.num_classes)
    bb = _run(square, true, xs, sub, Budget("linf", eps, PROBE_QUERIES), sc.seed, False)
    big = min(1.0, 4 * eps)
    bim = lookup("attack", "bim", "defense probe")({})
    wb_big = _run(bim, DefendedObjective(system, sub, "naive"), xs, sub,
                  Budget("linf", big, 20), sc.seed, False)
    def success(adv: torch.Tensor) -> float:
        return judge(system, adv, sub.labels, sub)["success"].float().mean().item()

    out: dict[str, Any] = {"probe_n": n,
                           "probe_white_box_success": white_box[:n].float().mean().item(),
                           "probe_black_box_success": success(bb), "probe_large_eps": big,
                           "probe_large_eps_success": success(wb_big)}
    reasons = []
    gap = out["probe_black_box_success"] - out["probe_white_box_success"]
    if gap >= BLACK_BOX_GAP:
        reasons.append(f"a black-box attack (square) beats plain gradients by "
                       f"{100 * gap:.0f} points")
    if out["probe_large_eps_success"] < LARGE_EPS_SUCCESS:
        reasons.append(f"plain white-box success is only {out['probe_large_eps_success']:.0%} "
                       f"at eps {big:g}")
    out["probe_reasons"] = reasons
    return out


def _system_rows(sc: Scenario, system: DefendedSystem, spec: AttackSpec, attack: Attack,
                 eps: float, x: torch.Tensor, y: torch.Tensor, goal: Goal, budget: Budget,
                 x_na: torch.Tensor, want_probe: bool) -> dict[str, Any]:
    adaptive = sc.scene.adaptive
    clean = judge(system, x, y, goal)
    row: dict[str, Any] = {"defense": system.name, "kind": system.kind, "attack": spec.name,
                           "mode": spec.mode, "eps": eps, "norm": budget.norm,
                           "clean_accuracy": (clean["pred"] == y).float().mean().item()}
    if system.detectors:
        row["clean_flagged"] = clean["flagged"].float().mean().item()
        row["calibrated_fpr"] = system.fpr[0] if len(system.fpr) == 1 else system.fpr
    if adaptive in ("both", False) or system.name == "none":
        row.update(rates(system, judge(system, x_na, y, goal), "non_adaptive"))
    wb_success = None
    if adaptive in ("both", True):
        x_ad = x_na if system.name == "none" else attack_system(sc, system, spec, attack, x,
                                                                goal, budget, "bpda")
        verdict = judge(system, x_ad, y, goal)
        row.update(rates(system, verdict, "adaptive"))
        if system.transforms:
            x_wb = attack_system(sc, system, spec, attack, x, goal, budget, "naive")
            wb_success = judge(system, x_wb, y, goal)["success"]
            row["white_box_success"] = wb_success.float().mean().item()
        elif not system.detectors:  # the model itself is what is attacked
            wb_success = verdict["success"]
            row["white_box_success"] = row["adaptive_success"]
    reasons = _gap_reasons(row)
    if want_probe and wb_success is not None and budget.norm == "linf":
        found = probe(sc, system, x, goal, eps, wb_success)
        reasons += found.pop("probe_reasons")
        row.update(found)
    if wb_success is None:  # no plain white-box attack to compare with: nothing was checked
        why = "a detector" if system.detectors else "adaptive: false"
        row["gradient_masking"], row["masking_reasons"] = None, f"not checked ({why})"
    else:
        row["gradient_masking"] = bool(reasons)
        row["masking_reasons"] = "; ".join(reasons)
    return row


def evaluate_defended_digital(sc: Scenario, steps: int | None = None) -> RunResult:
    """The matrix on held-out images: per attack and epsilon, every defense."""
    assert sc.images is not None and sc.labels is not None
    x, y = sc.images, sc.labels
    systems = systems_for(sc, exclude=x)
    with torch.no_grad():
        clean_logits = sc.classifier(x)
    rows = []
    sweep = sc.scene.sweep
    for k, (spec, attack) in enumerate(sc.attacks):
        epsilons = sweep.eps if sweep is not None and sweep.eps else [spec.budget.eps]
        for j, eps in enumerate(epsilons):
            budget = budget_of(spec, steps, eps)
            goal = goal_for(sc, spec, y, clean_logits)
            x_na = x if eps == 0 else _run(attack, ClassifierObjective(
                sc.classifier, sc.classifier.num_classes), x, goal, budget, sc.seed,
                spec.early_stop)
            for system in systems:
                rows.append(_system_rows(sc, system, spec, attack, eps, x, y, goal, budget,
                                         x_na, want_probe=k == 0 and j == 0 and eps > 0))
    return finish_matrix(sc, rows, {"n": len(y)})


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per defense: its clean cost, detection rates and whether it masks gradients."""
    out = []
    for name in dict.fromkeys(r["defense"] for r in rows):
        mine = [r for r in rows if r["defense"] == name]
        checked = [r for r in mine if r["gradient_masking"] is not None]
        reasons = list(dict.fromkeys(x for r in checked
                                     for x in r["masking_reasons"].split("; ") if x))
        line = {"defense": name, "kind": mine[0]["kind"],
                "clean_accuracy": mine[0]["clean_accuracy"],
                "gradient_masking": bool(reasons) if checked else None,
                "masking_reasons": "; ".join(reasons) if checked else mine[0]["masking_reasons"]}
        for key in ("clean_flagged", "non_adaptive_detection_tpr", "adaptive_detection_tpr"):
            if key in mine[0]:
                line[key] = mine[0][key]
        out.append(line)
    return out


def finish_matrix(sc: Scenario, rows: list[dict[str, Any]], extra: dict[str, Any]
                  ) -> RunResult:
    """Package the matrix rows: metrics, the summary and the heatmap figure."""
    from physsim.defense_report import matrix_heatmap

    for r in rows:  # JSON has no NaN; an undefined rate is null
        for k, v in r.items():
            if isinstance(v, float) and math.isnan(v):
                r[k] = None
    metrics = {"scene": sc.scene.name, "classifier": sc.scene.classifier.name,
               "adaptive": sc.scene.adaptive, **extra,
               "clean_accuracy": rows[0]["clean_accuracy"] if rows else None,
               "defense_matrix": rows, "defense_summary": summarise(rows)}
    return RunResult(metrics, figures={"defense_matrix": matrix_heatmap(rows)})


def evaluate_defended(sc: Scenario, steps: int | None = None) -> RunResult:
    """The defended run: physical scenes over the grid, digital ones on held-out images."""
    if sc.obj is not None:
        from physsim.defense_physical import evaluate_defended_physical

        return evaluate_defended_physical(sc, steps)
    return evaluate_defended_digital(sc, steps)
