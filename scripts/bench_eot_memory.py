"""Benchmark the memory of one chunked EOT attack step: its peak follows the chunk C, not K.

An attack's objective (:class:`physsim.objective.ClassifierObjective`) evaluates its K EOT
samples in chunks of C: each chunk is rendered, classified and back-propagated to the texture
before the next is drawn, and the gradients are summed. Peak memory should therefore grow with
C and stay flat as K grows. This script measures it: for every model and every (K, C) pair it
runs one step (the default physical pipeline on a 512 px texture, the models of
``scripts/bench_eot.py``) and records how far the step raised the process's resident memory.

Each measurement runs in a fresh process: it builds the classifier, texture, pipeline and
objective, runs one chunk-sized step first (what every later step reuses: oneDNN's kernels for
these shapes, cached tables), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``,
Linux), runs the measured step and reads the peak back (``VmHWM``). ``step_mb`` is that peak
less the resident memory just before the step. With ``--device cuda`` the same is read from
``torch.cuda.max_memory_allocated`` as ``cuda_step_mb``.

glibc's malloc runs with fixed thresholds in those processes (``GLIBC_TUNABLES``: blocks over
128 KB are mapped for themselves and freed memory goes back at once), so that the resident
peak is the tensors' own: with its defaults, freed blocks stay in the heap by amounts that
vary with the number of chunks (140-200 MB more at 224 px in this machine's runs).

    python scripts/bench_eot_memory.py --json scripts/results/bench_eot_memory_cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from physsim.objective import ClassifierObjective

SCRIPT = Path(__file__).resolve()
#: glibc's malloc in the measuring processes: fixed thresholds (no adaptive growth), so blocks
#: over 128 KB are mapped for themselves and freed memory is handed back at once
TUNABLES = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072"


def _status_kb(key: str) -> int:
    """A ``VmRSS``/``VmHWM``-style line of /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def _malloc_trim() -> None:
    """Hand the heap's free memory back to the system (glibc's ``malloc_trim``; elsewhere
    nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def measure(model_name: str, size: int, k: int, chunk: int, device: torch.device,
            texture_px: int) -> dict[str, Any]:
    """One step of K samples in chunks of ``chunk``, in this process: its peak memory."""
    from bench_eot import setup  # the time benchmark's models, texture and pipeline

    model, rgb, pipe = setup(model_name, size, device, texture_px)

    def objective(samples: int) -> ClassifierObjective:
        return ClassifierObjective(model, model.num_classes, renderer=pipe, samples=samples,
                                   chunk=chunk, generator=torch.Generator().manual_seed(0))

    label = torch.zeros(1, dtype=torch.long, device=device)

    def loss_fn(logits: torch.Tensor) -> torch.Tensor:  # (1, S, classes) -> (1, S)
        return F.cross_entropy(logits.flatten(0, 1), label.expand(logits.shape[1]),
                               reduction="none").view(1, -1)

    # one chunk first: it builds what every later step reuses; then the heap's free memory
    # goes back to the system, so that the measured step's growth is its own
    objective(chunk).value_and_grad(rgb, loss_fn)
    gc.collect()
    _malloc_trim()
    measured = objective(k)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    Path("/proc/self/clear_refs").write_text("5")  # the peak mark := the current RSS
    before_kb = _status_kb("VmRSS")
    _, grad, _ = measured.value_and_grad(rgb, loss_fn)
    if cuda:
        torch.cuda.synchronize(device)
    peak_kb = _status_kb("VmHWM")
    if not bool(torch.isfinite(grad).all()) or not bool(grad.abs().sum() > 0):
        raise RuntimeError("the step gave no usable gradient")
    row: dict[str, Any] = {"model": model_name, "size": size, "K": k, "chunk": chunk,
                           "forwards": measured.forwards,
                           "rss_before_mb": round(before_kb / 1024, 1),
                           "peak_rss_mb": round(peak_kb / 1024, 1),
                           "step_mb": round((peak_kb - before_kb) / 1024, 1)}
    if cuda:
        row["cuda_step_mb"] = round(
            (torch.cuda.max_memory_allocated(device) - cuda_before) / 2**20, 1)
    return row


def in_fresh_process(args: argparse.Namespace, model_name: str, size: int, k: int,
                     chunk: int) -> dict[str, Any]:
    cmd = [sys.executable, str(SCRIPT), "--one", model_name, str(size), str(k), str(chunk),
           "--device", args.device, "--texture-px", str(args.texture_px), "--json", os.devnull]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"bench_eot_memory: {model_name}@{size} K={k} C={chunk} failed:\n"
                 f"{done.stderr.strip()}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: the step's memory by chunk and K; how much it grows from the smallest to the
    largest K at the smallest chunk (about 1 if it is bounded by the chunk); and one batch of
    K against that chunk, at the largest K measured both ways."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(f"{r['model']}@{r['size']}" for r in rows):
        at = {(r["K"], r["chunk"]): r["step_mb"] for r in rows
              if f"{r['model']}@{r['size']}" == key}
        c0 = min(c for _, c in at)
        ks = sorted(k for k, c in at if c == c0)
        entry: dict[str, Any] = {
            "step_mb": {f"C={c}": {f"K={k}": at[(k, c)] for k in sorted(k for k, cc in at
                                                                       if cc == c)}
                        for c in sorted({c for _, c in at})},
            "smallest_chunk": c0,
            "K_growth_at_smallest_chunk": {"K": [ks[0], ks[-1]],
                                           "ratio": round(at[(ks[-1], c0)] / at[(ks[0], c0)], 3)}}
        whole = [k for k, c in at if k == c and (k, c0) in at and k != c0]
        if whole:
            k1 = max(whole)
            entry["one_batch_vs_smallest_chunk"] = {"K": k1,
                                                    "ratio": round(at[(k1, k1)] / at[(k1, c0)], 3)}
        out[key] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--samples", type=int, nargs="+", default=[16, 64, 256], metavar="K")
    ap.add_argument("--chunks", type=int, nargs="+", default=[8, 16, 32, 64], metavar="C")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--texture-px", type=int, default=512)
    ap.add_argument("--configs", nargs="+", default=["lisa_cnn@32", "resnet18@64",
                                                     "resnet18@224"])
    ap.add_argument("--one", nargs=4, metavar=("MODEL", "SIZE", "K", "C"),
                    help=argparse.SUPPRESS)  # one measurement, in this process
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_eot import check_args, write_json  # what both benchmarks share

    configs = check_args(ap, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path("/proc/self/clear_refs").exists():
        ap.error("needs Linux's /proc/self/clear_refs to reset the peak of resident memory")
    if args.one:
        name, size, k, chunk = args.one
        print(json.dumps(measure(name, int(size), int(k), int(chunk), torch.device(args.device),
                                 args.texture_px)))
        return
    rows = []
    for name, size in configs:
        for k in sorted(args.samples):
            for chunk in sorted(c for c in args.chunks if c <= k):
                row = in_fresh_process(args, name, size, k, chunk)
                print(json.dumps(row), flush=True)
                rows.append(row)
    out = {"device": args.device, "torch": torch.__version__,
           "threads": args.threads or torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "allocator": f"glibc, GLIBC_TUNABLES={TUNABLES}", "texture_px": args.texture_px,
           "pipeline": "default physical pipeline (physsim.eot.config.DEFAULT_TRANSFORMS)",
           "measure": "step_mb: peak resident memory during one step less the resident memory "
                      "before it (VmHWM after resetting it, minus VmRSS), fresh process each",
           "summary": summary(rows), "configurations": rows}
    write_json(args.json, out)
    print(json.dumps(out["summary"], indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
