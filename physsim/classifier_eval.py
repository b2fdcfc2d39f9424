"""``physsim eval-classifier``: accuracy of a registered classifier on a fresh held-out set.

A classifier class that can be evaluated offline defines the classmethod
``heldout(n, seed, device) -> (images, labels, bins)``: images (n, 3, H, W) in [0, 1], labels
(n,) class indices, and ``bins`` either None or a mapping from a physical quantity to (n,)
per-sample values (``distance_m``, ``yaw_deg``) that the report bins. The sign classifiers
render a new test set through the EOT engine; the digits classifier returns its test split.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import torch

from physsim.classifier import Classifier
from physsim.device import resolve_device
from physsim.errors import UserError
from physsim.outputs import check_output, write_json
from physsim.scene import SEED_MAX

#: bin edges per quantity; values outside the edges count in the first or last bin
BIN_EDGES: dict[str, tuple[float, ...]] = {
    "distance_m": (1.5, 3.0, 5.0, 8.0, 11.0, 15.0),
    "yaw_deg": (0.0, 15.0, 30.0, 45.0),
}
#: quantities binned by magnitude (a sign seen from 30° left or right is equally oblique)
ABSOLUTE = frozenset({"yaw_deg"})


def predict(model: Classifier, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """(n,) predicted class indices, in batches to bound memory."""
    with torch.no_grad():
        return torch.cat([model(x).argmax(1) for x in images.split(batch)])


def bin_accuracy(correct: torch.Tensor, values: torch.Tensor, edges: Sequence[float]
                 ) -> dict[str, dict[str, float]]:
    """Accuracy per bin of ``values`` between consecutive ``edges`` (ends are open)."""
    inner = torch.tensor(edges[1:-1], dtype=values.dtype, device=values.device)
    idx = torch.bucketize(values, inner, right=True)
    out: dict[str, dict[str, float]] = {}
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        sel = idx == i
        n = int(sel.sum())
        acc = float(correct[sel].float().mean()) if n else float("nan")
        out[f"{lo:g}-{hi:g}"] = {"accuracy": round(acc, 4), "n": n}
    return out


def accuracy_report(labels_names: Sequence[str], pred: torch.Tensor, labels: torch.Tensor,
                    bins: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Overall, per-class and (when ``bins`` is given) per-bin accuracy as a JSON-ready dict."""
    correct = (pred == labels).cpu()
    labels = labels.cpu()
    per_class = {}
    for i, name in enumerate(labels_names):
        sel = labels == i
        if sel.any():
            per_class[name] = {"accuracy": round(float(correct[sel].float().mean()), 4),
                               "n": int(sel.sum())}
    report: dict[str, Any] = {"accuracy": round(float(correct.float().mean()), 4),
                              "n": len(labels), "per_class": per_class}
    if bins is not None:
        report["per_bin"] = {}
        for key, values in bins.items():
            v = values.detach().cpu().float()
            v = v.abs() if key in ABSOLUTE else v
            edges = BIN_EDGES.get(key) or tuple(torch.linspace(float(v.min()), float(v.max()),
                                                               5).tolist())
            report["per_bin"][key] = bin_accuracy(correct, v, edges)
    return report


def evaluate_classifier(name: str, samples: int = 2000, seed: int = 1, device: str = "cpu",
                        options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Create classifier ``name``, draw its held-out set and measure accuracy.

    Raises:
        UserError: unknown classifier, or one that defines no ``heldout`` set.
    """
    from physsim.plugins import lookup

    cls = lookup("classifier", name, "eval-classifier")
    heldout = getattr(cls, "heldout", None)
    if heldout is None:
        raise UserError(f"classifier {name!r} has no held-out set to evaluate on (it defines no "
                        "heldout(n, seed, device) classmethod)", "eval-classifier")
    model = cls.create(options or {}).to(device)
    start = time.perf_counter()
    images, labels, bins = heldout(samples, seed, device)
    data_s = time.perf_counter() - start
    pred = predict(model, images.to(device))
    report = accuracy_report(model.labels, pred, labels.to(pred.device), bins)
    report.update(classifier=name, seed=seed, device=str(device),
                  seconds={"data": round(data_s, 2),
                           "total": round(time.perf_counter() - start, 2)})
    return report


def _format(report: dict[str, Any]) -> str:
    lines = [f"{report['classifier']}: accuracy {report['accuracy']:.2%} on {report['n']} "
             f"held-out images (seed {report['seed']})", "per class:"]
    width = max(len(k) for k in report["per_class"])
    lines += [f"  {k:<{width}}  {v['accuracy']:.2%}  (n={v['n']})"
              for k, v in report["per_class"].items()]
    for key, bins in report.get("per_bin", {}).items():
        lines.append(f"per {key} bin:" + ("  (|value|)" if key in ABSOLUTE else ""))
        lines += [f"  {b:>8}  {v['accuracy']:.2%}  (n={v['n']})" for b, v in bins.items()]
    return "\n".join(lines)


@click.command("eval-classifier")
@click.argument("name")
@click.option("--samples", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Size of the held-out set (the digits test split has 450 images).")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=1, show_default=True,
              help="Seed of the held-out set (drawn from the test split's seed space).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write the report as JSON to this file.")
@click.option("--force", is_flag=True, help="Overwrite an existing --json file.")
def eval_classifier_cmd(name: str, samples: int, seed: int, device: str,
                        json_path: Path | None, force: bool) -> None:
    """Measure the accuracy of classifier NAME on a fresh held-out set."""
    dev = resolve_device(device, "--device")
    if json_path is not None:  # before the work, not after it
        check_output(json_path, "--json", force)
    report = evaluate_classifier(name, samples, seed, str(dev))
    click.echo(_format(report))
    if json_path is not None:
        write_json(json_path, report)
        click.echo(f"wrote {json_path}")
