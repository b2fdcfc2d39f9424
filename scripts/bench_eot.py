"""Benchmark one EOT attack step: batched pipeline vs a per-sample loop vs the classifier alone.

One step = draw K EOT samples, render the texture under them through the full physical
pipeline (pose, crop, printer, lighting, background, defocus, motion blur, sensor noise, JPEG),
classify, and back-propagate the mean loss to the texture. Three ways are timed side by side:

  (a) batched:  what physsim's attacks run: their objective (physsim.objective) has the
                Pipeline render the K samples as one batch, one forward + backward. Where
                windows are small it prepares the texture-independent part of the render
                (geometry, levels of detail, sampling grids, backgrounds, sensor noise) for
                the next L steps at once (its lookahead, recorded as ``lookahead``;
                ``--lookahead 1`` turns it off); each repeat then times L consecutive steps,
                so that one preparation is in every figure;
  (b) loop:     what common attack libraries do, one render + forward + backward per sample
                (same pipeline, same params, gradients accumulated);
  (c) model:    the classifier alone, forward + backward to its input on the same K images
                (the lower limit of any EOT step).

Wall times are the figures; the process CPU times beside them are the less disturbed measure
when other jobs share the machine (see ``timed``).

Models: a LISA-CNN-sized network at 32x32 (Eykholt et al. 2018: conv 64@8x8/2, 128@6x6/2,
128@5x5/1, fc) and a ResNet-18-sized network (He et al. 2016, random weights) at 64x64 and
224x224. Writes medians of ``--repeats`` runs, with ``speedup_vs_loop`` = b / a and
``overhead_vs_model`` = a / c per configuration, to ``--json``.

    python scripts/bench_eot.py --device cpu --json scripts/results/bench_eot_cpu.json

On a CPU shared with other jobs, add ``--threads 1``: with more threads than free cores, every
small operation waits for a descheduled OpenMP thread, which distorts the ratios (the render is
many small operations, the model a few large ones).

Memory is kept for reuse between steps as the ``physsim`` command keeps it
(:func:`physsim.allocator.retain_freed_memory`); ``--allocator system`` measures with the C
library's defaults instead, under which a large freed block may go back to the system and be
faulted in again on the next step (at 224 px, a large part of the difference).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from physsim.allocator import retain_freed_memory
from physsim.classifier import Classifier
from physsim.eot.pipeline import Pipeline
from physsim.objective import ClassifierObjective

TARGETS = {"speedup_vs_loop@K32": {"lisa_cnn@32": 4.0, "resnet18@64": 4.0, "resnet18@224": 1.1},
           "overhead_vs_model": {"lisa_cnn@32": 2.0, "resnet18@64": 1.3, "resnet18@224": 1.3}}


def lisa_cnn(num_classes: int = 18) -> nn.Module:
    """LISA-CNN-sized: three convolutions and a linear layer, for 32x32 inputs."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 8, stride=2, padding=3), nn.ReLU(),
        nn.Conv2d(64, 128, 6, stride=2), nn.ReLU(),
        nn.Conv2d(128, 128, 5), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 2 * 2, num_classes))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """ResNet-18's layout: stem, four stages of two basic blocks, global pooling, fc."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


#: the models a configuration ``MODEL@SIZE`` may name
MODELS = ("lisa_cnn", "resnet18")


def parse_config(text: str) -> tuple[str, int]:
    """``MODEL@SIZE`` -> (model, input size); ValueError naming what is wrong."""
    name, _, size = text.partition("@")
    if name not in MODELS or not size.isdigit() or not 8 <= int(size) <= 1024:
        raise ValueError(f"--configs: {text!r} is not MODEL@SIZE with MODEL one of "
                         f"{', '.join(MODELS)} and SIZE from 8 to 1024 pixels")
    return name, int(size)


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, int]]:
    """The configurations to run, after checking the arguments both benchmarks share (one
    line and exit status 2 if one is wrong)."""
    try:
        configs = [parse_config(c) for c in args.configs]
    except ValueError as exc:
        ap.error(str(exc))
    for flag, values in (("--samples", args.samples), ("--chunks", getattr(args, "chunks", []))):
        if any(v < 1 for v in values):
            ap.error(f"{flag} must be positive, got {values}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be positive, got {args.threads}")
    if getattr(args, "lookahead", None) is not None and args.lookahead < 1:
        ap.error(f"--lookahead must be positive, got {args.lookahead}")
    if args.texture_px < 64:
        ap.error(f"--texture-px must be at least 64, got {args.texture_px}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device here")
    return configs


def write_json(path: Path, data: dict[str, object]) -> None:
    """Write ``data`` to ``path`` whole or not at all (through a temporary file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def classifier(name: str, size: int, device: torch.device) -> Classifier:
    torch.manual_seed(0)
    net = lisa_cnn() if name == "lisa_cnn" else resnet18()
    n = 18 if name == "lisa_cnn" else 1000
    return Classifier(net, [f"c{i}" for i in range(n)], (size, size),
                      mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)).to(device)


def texture(px: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """An RGB texture (1, 3, px, px) with fine detail, and a disc-shaped alpha (1, px, px)."""
    g = torch.Generator().manual_seed(0)
    rgb = F.interpolate(torch.rand(1, 3, px // 8, px // 8, generator=g), size=(px, px),
                        mode="bilinear", align_corners=False)
    rgb = (rgb + 0.1 * torch.rand(1, 3, px, px, generator=g)).clamp(0, 1)
    yy, xx = torch.meshgrid(torch.arange(px), torch.arange(px), indexing="ij")
    r = ((yy - (px - 1) / 2) ** 2 + (xx - (px - 1) / 2) ** 2).sqrt()
    alpha = (px / 2 - r).clamp(0, 1).unsqueeze(0)
    return rgb.to(device), alpha.to(device)


def timed(fns: dict[str, Callable[[], object]], repeats: dict[str, int],
          device: torch.device, calls: dict[str, int] | None = None
          ) -> dict[str, tuple[float, float]]:
    """Median wall and process-CPU times of one call of each function (ms), after one
    warm-up block each.

    Each repeat times a block of ``calls[key]`` consecutive calls (default 1) and divides by
    their number: a function whose calls share a periodic cost is timed over whole periods.
    The functions take turns within every repeat, so a change in the machine's load (other
    processes) weighs on all of them alike and their ratios stay meaningful. The CPU time of
    this process is recorded too: on a shared machine it is the less disturbed measure of the
    work done (with one thread it approximates the wall time of an idle machine).
    """
    calls = {k: (calls or {}).get(k, 1) for k in fns}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for key, fn in fns.items():
        for _ in range(calls[key]):
            fn()
    sync()
    for r in range(max(repeats.values())):
        for key, fn in fns.items():
            if r >= repeats[key]:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls[key]):
                fn()
            sync()
            wall[key].append((time.perf_counter() - t0) * 1000 / calls[key])
            cpu[key].append((time.process_time() - c0) * 1000 / calls[key])
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def setup(model_name: str, size: int, device: torch.device, texture_px: int
          ) -> tuple[Classifier, torch.Tensor, Pipeline]:
    """What both benchmarks (time and memory) run: the classifier, the RGB texture, and the
    default physical pipeline at the classifier's input size on the texture's alpha."""
    model = classifier(model_name, size, device)
    rgb, alpha = texture(texture_px, device)
    pipe = Pipeline({}, output_size=(size, size), size_mm=(750.0, 750.0), alpha=alpha,
                    device=device)
    return model, rgb, pipe


def bench(model_name: str, size: int, k: int, repeats: int, device: torch.device,
          texture_px: int, lookahead: int | None = None) -> dict[str, object]:
    model, rgb, pipe = setup(model_name, size, device, texture_px)
    gen = torch.Generator(device=device).manual_seed(0)
    label = torch.zeros(k, dtype=torch.long, device=device)

    objective = ClassifierObjective(model, model.num_classes, renderer=pipe, samples=k,
                                   generator=torch.Generator(device=device).manual_seed(0),
                                   lookahead=lookahead)

    def loss_fn(logits: torch.Tensor) -> torch.Tensor:  # (1, K, classes) -> (1, K)
        return F.cross_entropy(logits.flatten(0, 1), label, reduction="none").view(1, k)

    def batched() -> torch.Tensor:
        return objective.value_and_grad(rgb, loss_fn)[1]

    # the texture the loop optimises persists from step to step; each step starts with no
    # gradient (what ``optimizer.zero_grad()`` leaves) and back-propagates a fresh one into it
    x = rgb.clone().requires_grad_(True)

    def loop() -> torch.Tensor:
        x.grad = None
        params = pipe.sample(k, gen)
        for i in range(k):
            image = pipe.render(x, pipe.select(params, slice(i, i + 1)))[0]
            (F.cross_entropy(model(image), label[:1]) / k).backward()
        return x.grad  # type: ignore[return-value]

    with torch.no_grad():
        fixed = pipe.render(rgb, pipe.sample(k, gen))[0]

    def model_only() -> torch.Tensor:
        images = fixed.clone().requires_grad_(True)
        F.cross_entropy(model(images), label).backward()
        return images.grad  # type: ignore[return-value]

    # the loop at 224 px takes tens of seconds per repeat on a CPU: fewer of them
    loop_repeats = max(1, repeats // 2) if size >= 224 else repeats
    # the batched step and the model in blocks of the objective's lookahead (the loop's
    # steps have no periodic cost, and at 224 px a block of them would take minutes)
    ahead = objective.lookahead
    t = timed({"batched": batched, "loop": loop, "model": model_only},
              {"batched": repeats, "loop": loop_repeats, "model": repeats}, device,
              {"batched": ahead, "model": ahead})
    (a, a_cpu), (b, b_cpu), (c, c_cpu) = t["batched"], t["loop"], t["model"]
    return {"model": model_name, "size": size, "K": k, "lookahead": ahead,
            "batched_ms": round(a, 2), "loop_ms": round(b, 2), "model_ms": round(c, 2),
            "speedup_vs_loop": round(b / a, 3), "overhead_vs_model": round(a / c, 3),
            "cpu_time": {"batched_ms": round(a_cpu, 2), "loop_ms": round(b_cpu, 2),
                         "model_ms": round(c_cpu, 2),
                         "speedup_vs_loop": round(b_cpu / a_cpu, 3),
                         "overhead_vs_model": round(a_cpu / c_cpu, 3)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--samples", type=int, nargs="+", default=[8, 32], metavar="K")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--allocator", choices=["retain", "system"], default="retain",
                    help="retain: keep freed memory for reuse, as the physsim command does "
                         "(physsim.allocator); system: the C library's defaults")
    ap.add_argument("--texture-px", type=int, default=512)
    ap.add_argument("--lookahead", type=int, default=None, metavar="L",
                    help="steps the objective prepares at once (default: its own choice; "
                         "1: none, to measure what the lookahead saves)")
    ap.add_argument("--configs", nargs="+", default=["lisa_cnn@32", "resnet18@64",
                                                     "resnet18@224"])
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    configs = check_args(ap, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    retained = args.allocator == "retain" and retain_freed_memory()
    device = torch.device(args.device)
    load_before = os.getloadavg()
    rows = []
    for name, size in configs:
        for k in args.samples:
            row = bench(name, size, k, args.repeats, device, args.texture_px, args.lookahead)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "allocator": "retain" if retained else "system",
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "load_average_before": [round(v, 2) for v in load_before],
           "load_average_after": [round(v, 2) for v in os.getloadavg()],
           "repeats": args.repeats, "texture_px": args.texture_px,
           "lookahead": args.lookahead or "the objective's own (per configuration)",
           "pipeline": "default physical pipeline (physsim.eot.config.DEFAULT_TRANSFORMS)",
           "targets": TARGETS, "configurations": rows}
    write_json(args.json, out)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
