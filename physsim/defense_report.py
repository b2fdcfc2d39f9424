"""The defense matrix in a run directory: a heatmap, a CSV and JSON table, an HTML table.

Rows are defenses ("none" is the undefended classifier), columns are attacks (with their
epsilon), each twice: non-adaptive and adaptive, side by side.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # the OO API: no pyplot, no global backend state

from physsim import rundir

#: the columns of the CSV and HTML tables, in order (absent values stay empty)
COLUMNS = ("defense", "kind", "attack", "mode", "eps", "clean_accuracy", "clean_flagged",
           "non_adaptive_success", "adaptive_success", "white_box_success",
           "non_adaptive_robust_accuracy", "adaptive_robust_accuracy",
           "non_adaptive_detection_tpr", "adaptive_detection_tpr", "probe_black_box_success",
           "probe_large_eps_success", "gradient_masking", "masking_reasons")
SETTINGS = (("non_adaptive", "non-adaptive"), ("adaptive", "adaptive"))


def _column_key(row: dict[str, Any]) -> str:
    return f"{row['attack']} ({row['mode']}) eps {row['eps']:.3g}"


def matrix_heatmap(rows: list[dict[str, Any]]) -> bytes:
    """Attack success per defense (rows) and attack x setting (columns), as PNG bytes."""
    defenses = list(dict.fromkeys(r["defense"] for r in rows))
    attacks = list(dict.fromkeys(_column_key(r) for r in rows))
    cols = [(a, key, label) for a in attacks for key, label in SETTINGS]
    m = np.full((len(defenses), len(cols)), np.nan)
    masking = {r["defense"] for r in rows if r.get("gradient_masking")}
    for r in rows:
        for j, (a, key, _) in enumerate(cols):
            value = r.get(f"{key}_success")
            if a == _column_key(r) and value is not None:
                m[defenses.index(r["defense"]), j] = value
    fig = Figure(figsize=(2.0 + 1.1 * len(cols), 1.0 + 0.38 * len(defenses)))
    ax = fig.subplots()
    im = ax.imshow(m, vmin=0, vmax=1, cmap="magma", aspect="auto")
    ax.set_xticks(range(len(cols)), [f"{a}\n{label}" for a, _, label in cols], fontsize=7,
                  rotation=30, ha="right")
    ax.set_yticks(range(len(defenses)),
                  [f"{d} (masking?)" if d in masking else d for d in defenses], fontsize=8)
    for (i, j), v in np.ndenumerate(m):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="attack success")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def write_matrix_files(work: Path, rows: list[dict[str, Any]]) -> None:
    """``defense_matrix.csv`` and ``defense_matrix.json`` in the run directory ``work``."""
    with (work / "defense_matrix.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows([_cell(r.get(c)) for c in COLUMNS] for r in rows)
    rundir.write_json(work / "defense_matrix.json", rows)


def matrix_html(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> str:
    """The summary and the full matrix as HTML tables."""
    cols = [c for c in COLUMNS if any(r.get(c) is not None for r in rows)]

    def table(data: list[dict[str, Any]], keys: list[str]) -> str:
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k)))}</td>" for k in keys)
                       + "</tr>" for r in data)
        return f"<table><tr>{head}</tr>{body}</table>"

    skeys = list(dict.fromkeys(k for s in summary for k in s))
    return ("<h2>Defenses: summary</h2>" + table(summary, skeys)
            + "<h2>Defense matrix (non-adaptive and adaptive side by side)</h2>"
            + table(rows, cols))
