"""The run directory's contents: scene as run, manifest, artefact, renders, metrics, report.

``report.html`` is self-contained (images inlined as data URIs) so it opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from matplotlib.figure import Figure  # the OO API: no pyplot, no global backend state
from PIL import Image

from physsim import rundir
from physsim.runner import RunResult, Scenario, eot_inputs

MM_PER_INCH = 25.4


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, C) uint8."""
    arr = image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return (arr * 255.0 + 0.5).astype(np.uint8)


def save_png(path: Path, image: torch.Tensor, dpi: float | None = None) -> None:
    """Save (C, H, W) in [0, 1] (C = 1, 3 or 4) as PNG, with DPI so it prints at real size."""
    arr = to_uint8(image)
    pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    pil.save(path, dpi=(dpi, dpi) if dpi else None)


def _fig_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def heatmap(grid: list[dict[str, Any]]) -> bytes:
    """Success rate over distance x yaw."""
    ds = sorted({c["distance_m"] for c in grid})
    ys = sorted({c["yaw_deg"] for c in grid})
    m = np.full((len(ys), len(ds)), np.nan)
    for c in grid:
        m[ys.index(c["yaw_deg"]), ds.index(c["distance_m"])] = c["success_rate"]
    fig = Figure(figsize=(1.0 + 0.8 * len(ds), 1.0 + 0.6 * len(ys)))
    ax = fig.subplots()
    im = ax.imshow(m, vmin=0, vmax=1, cmap="magma", origin="lower", aspect="auto")
    ax.set_xticks(range(len(ds)), [f"{d:g}" for d in ds])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel("distance (m)")
    ax.set_ylabel("yaw (deg)")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8,
                color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="attack success")
    return _fig_png(fig)


def loss_curve(history: list[float]) -> bytes:
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(history)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over EOT samples)")
    return _fig_png(fig)


def sweep_plot(rows: list[dict[str, Any]], title: str) -> bytes:
    """Top-1 and top-5 accuracy against epsilon, one line per attack (the classic figure)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name in dict.fromkeys(f"{r['attack']} ({r['mode']})" for r in rows):
        sel = [r for r in rows if f"{r['attack']} ({r['mode']})" == name]
        eps = [r["eps"] * 255 for r in sel]
        line = ax.plot(eps, [r["top1_accuracy"] for r in sel], marker="o", label=f"{name} top-1")
        ax.plot(eps, [r["top5_accuracy"] for r in sel], marker="x", linestyle="--",
                color=line[0].get_color(), label=f"{name} top-5")
    ax.set_xlabel("epsilon (x/255)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _fig_png(fig)


def _img_tag(png: bytes, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{w}>'


def _tensor_png(image: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    arr = to_uint8(image)
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_report(work: Path, sc: Scenario, result: RunResult, scene_path: Path) -> None:
    """Write every file of the run directory ``work`` (the ``.partial`` one)."""
    rundir.write_scene(work, sc.scene, sc.seed, str(sc.device))
    scene_dict = yaml.safe_load((work / "scene.yaml").read_text())
    from physsim.plugins import loaded_plugins

    plugins = loaded_plugins()
    man = rundir.manifest(sc.seed, str(sc.device), plugins)
    man["scene_file"] = str(scene_path)
    if inputs := eot_inputs(sc):
        man["eot_inputs"] = inputs  # the files the EOT steps read (photos, a printer profile)
    rundir.write_json(work / "manifest.json", man)
    figures: dict[str, bytes] = dict(result.figures)
    m = result.metrics
    if result.artefact is not None and sc.obj is not None:
        _object_files(work, sc, result)
    elif result.artefact is not None and sc.patch is not None:
        # the patch prints at its size on the first object (e.g. 20% of a 750 mm sign)
        side_mm = float(sc.patch.size_mm[0, 0] * sc.patch.sizes[0])
        save_png(work / "artefact.png", torch.cat([result.artefact.cpu(), sc.patch.mask[0].cpu()]),
                 result.artefact.shape[-1] / (side_mm / MM_PER_INCH))
        rundir.write_json(work / "object.json", {"name": "patch", "label": m["target_class"],
                                                 "size_mm": [side_mm, side_mm]})
    if "grid" in m:
        figures["heatmap"] = heatmap(m["grid"])
    if m.get("loss_history"):
        figures["loss"] = loss_curve(m["loss_history"])
    if "results" in m and sc.scene.sweep is not None and sc.scene.sweep.eps:
        figures["sweep"] = sweep_plot(m["results"], f"{sc.scene.name} on {m['classifier']}")
        (work / "sweep.png").write_bytes(figures["sweep"])
        rundir.write_json(work / "sweep.json", m["results"])
    elif "results" in m:
        rundir.write_json(work / "results.json", m["results"])
    if "defense_matrix" in m:  # physsim.defense_matrix: the table as CSV and JSON too
        from physsim.defense_report import write_matrix_files

        write_matrix_files(work, m["defense_matrix"])
    rundir.write_json(work / "metrics.json", m)
    (work / "report.html").write_text(_html(sc, result, figures, scene_dict, man))


def _object_files(work: Path, sc: Scenario, result: RunResult) -> None:
    """The attacked texture at print resolution, where the attack put it, and renders."""
    assert sc.obj is not None and result.artefact is not None
    rgba = torch.cat([result.artefact.cpu(), sc.obj.texture[3:].cpu()])
    dpi = rgba.shape[-1] / (sc.obj.size_mm[0] / MM_PER_INCH)
    save_png(work / "artefact.png", rgba, dpi)
    region = result.attack_results[0].region if result.attack_results else None
    mask = region if region is not None else sc.mask
    assert mask is not None
    save_png(work / "mask.png", mask[0].cpu(), dpi)
    rundir.write_json(work / "object.json", {"name": sc.obj.name, "label": sc.obj.label,
                                             "size_mm": list(sc.obj.size_mm)})
    (work / "renders").mkdir(exist_ok=True)  # (a resumed run may have begun its report)
    for r in result.renders:
        stem = f"d{r['distance_m']:g}m_yaw{r['yaw_deg']:g}"
        save_png(work / "renders" / f"{stem}_clean.png", r["clean"])
        save_png(work / "renders" / f"{stem}_adv.png", r["adv"])


def _html(sc: Scenario, result: RunResult, figures: dict[str, bytes], scene: dict[str, Any],
          man: dict[str, Any]) -> str:
    m = result.metrics
    esc = html.escape
    parts = [f"<h1>physsim run: {esc(sc.scene.name)}</h1>", f"<p>{esc(sc.scene.description)}</p>"]
    summary = {k: v for k, v in m.items() if not isinstance(v, list | dict)}
    parts.append("<h2>Summary</h2><table>" + "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(f'{v:.3f}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in summary.items()) + "</table>")
    if result.artefact is not None:
        parts.append("<h2>Artefact</h2>" + _img_tag(_tensor_png(result.artefact), "artefact", 320))
    if result.renders:
        parts.append("<h2>Renders (held-out draws; clean / attacked)</h2><div class=row>")
        for r in result.renders:
            cap = (f"{r['distance_m']:g} m, yaw {r['yaw_deg']:g}&deg;<br>clean: "
                   f"{esc(r['clean_pred'])}<br>attacked: {esc(r['adv_pred'])}")
            parts.append("<figure>" + _img_tag(_tensor_png(r["clean"]), "clean", 128)
                         + _img_tag(_tensor_png(r["adv"]), "attacked", 128)
                         + f"<figcaption>{cap}</figcaption></figure>")
        parts.append("</div>")
    titles = {"heatmap": "Success over distance and angle", "loss": "Loss curve",
              "sweep": "Accuracy against epsilon",
              "defense_matrix": "Attack success against each defense"}
    for key, png in figures.items():
        parts.append(f"<h2>{esc(titles.get(key, key))}</h2>" + _img_tag(png, key))
    if "per_class" in m:
        parts.append(_table("Success per source class (held-out poses)", m["per_class"],
                            ["object", "label", "n", "success_rate", "clean_accuracy"]))
    if "results" in m:
        cols = ["attack", "mode", "eps", "top1_accuracy", "top5_accuracy", "success_rate",
                "median_norm"]
        if any("destruction_rate" in r for r in m["results"]):
            cols += ["photo_clean_accuracy", "photo_top1_accuracy", "destruction_rate"]
        parts.append(_table("Results", m["results"], cols))
    if "defense_matrix" in m:
        from physsim.defense_report import matrix_html

        parts.append(matrix_html(m["defense_matrix"], m["defense_summary"]))
    parts.append("<h2>Scene as run</h2><pre>" + esc(yaml.safe_dump(scene, sort_keys=False))
                 + "</pre>")
    parts.append("<h2>Manifest</h2><pre>" + esc(json.dumps(man, indent=2)) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px;"
             "text-align:left}figure{display:inline-block;margin:4px}.row{display:flex;"
             "flex-wrap:wrap}img{image-rendering:pixelated}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{esc(sc.scene.name)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))
