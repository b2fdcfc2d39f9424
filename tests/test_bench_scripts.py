"""The benchmark scripts run and write the JSON their docs describe (on a tiny configuration:
what they measure is for the scripts' own runs, never asserted here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _run(script: str, *args: str, status: int = 0) -> str:
    done = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True,
                          text=True, check=False, timeout=300)
    assert done.returncode == status, done.stderr
    return done.stderr


def test_bench_eot_writes_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    _run("bench_eot.py", "--configs", "lisa_cnn@32", "--samples", "2", "--repeats", "1",
         "--texture-px", "64", "--threads", "1", "--json", str(out))
    data = json.loads(out.read_text())
    (row,) = data["configurations"]
    assert (row["model"], row["size"], row["K"]) == ("lisa_cnn", 32, 2)
    assert row["lookahead"] == 16  # the objective's, at a 32 px window
    for key in ("batched_ms", "loop_ms", "model_ms", "speedup_vs_loop", "overhead_vs_model"):
        assert row[key] > 0
    assert row["speedup_vs_loop"] == pytest.approx(row["loop_ms"] / row["batched_ms"], rel=0.01)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                    reason="the memory benchmark reads Linux's peak-RSS mark")
def test_bench_eot_memory_measures_every_chunk(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    _run("bench_eot_memory.py", "--configs", "lisa_cnn@32", "--samples", "2", "4", "--chunks",
         "2", "4", "--texture-px", "64", "--threads", "1", "--json", str(out))
    data = json.loads(out.read_text())
    rows = data["configurations"]
    # every (K, C) with C <= K, each a fresh process, K / C forward passes in the measured step
    assert [(r["K"], r["chunk"], r["forwards"]) for r in rows] == [(2, 2, 1), (4, 2, 2),
                                                                  (4, 4, 1)]
    assert all(r["peak_rss_mb"] >= r["rss_before_mb"] > 0 for r in rows)
    entry = data["summary"]["lisa_cnn@32"]
    assert entry["step_mb"]["C=2"].keys() == {"K=2", "K=4"}
    assert entry["K_growth_at_smallest_chunk"]["K"] == [2, 4]
    assert entry["one_batch_vs_smallest_chunk"]["K"] == 4


def _bench_eot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_eot", SCRIPTS / "bench_eot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("text", "ok"), [
    ("lisa_cnn@32", ("lisa_cnn", 32)), ("resnet18@224", ("resnet18", 224)), ("vgg@32", None),
    ("lisa_cnn@big", None), ("lisa_cnn", None), ("resnet18@4", None), ("resnet18@-64", None),
])
def test_configurations_are_model_at_size(text: str, ok: tuple[str, int] | None) -> None:
    parse = _bench_eot().parse_config
    if ok is not None:
        assert parse(text) == ok
    else:
        with pytest.raises(ValueError, match=f"--configs: '{text}' is not MODEL@SIZE"):
            parse(text)


@pytest.mark.parametrize("script", ["bench_eot.py", "bench_eot_memory.py"])
def test_bad_arguments_are_one_line_and_keep_the_earlier_result(tmp_path: Path,
                                                                script: str) -> None:
    out = tmp_path / "earlier.json"
    out.write_text('{"earlier": true}')
    err = _run(script, "--configs", "lisa_cnn@32", "vgg@32", "--json", str(out), status=2)
    assert "--configs: 'vgg@32' is not MODEL@SIZE" in err.strip().splitlines()[-1]
    assert out.read_text() == '{"earlier": true}'
