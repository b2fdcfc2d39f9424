"""Train a sign classifier (``lisa_cnn`` or ``sign_resnet``) on rendered signs, on a CPU.

Usage::

    python scripts/train_sign_classifier.py --arch lisa_cnn|sign_resnet [--seed 0]
        [--out plugins/physsim_signs/weights] [--minutes 20] [--epochs E] [--train-size N]
        [--occlusion 0.15]

The training set is pre-rendered once in memory through the EOT engine (train split of
:mod:`physsim_signs.dataset`, a wider range of conditions than the test split), then the network
trains for a fixed number of epochs with cheap per-batch shifts. Validation and test sets come
from the disjoint val/test seed spaces at the realistic test-time range. Deterministic for a
given seed on CPU (seeded generators, deterministic algorithms) unless ``--minutes`` cuts the
run short, which the metadata then records. Writes ``<arch>.pt`` and ``<arch>.json``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import torch
import torch.nn.functional as F
from physsim_models.architectures import get_architecture
from physsim_models.weights import save_weights
from physsim_signs.catalog import LABELS
from physsim_signs.dataset import OCCLUSION, SignBatch, iter_blocks

from physsim.classifier_eval import accuracy_report

log = logging.getLogger("train_sign_classifier")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "plugins" / "physsim_signs" / "weights"
#: per architecture: epochs, train-set size, batch size, peak learning rate
RECIPES: dict[str, dict[str, float]] = {
    "lisa_cnn": {"epochs": 12, "train_size": 30000, "batch": 128, "lr": 2e-3},
    "sign_resnet": {"epochs": 5, "train_size": 20000, "batch": 128, "lr": 3e-3},
}


def _shift(x: torch.Tensor, g: torch.Generator, pad: int) -> torch.Tensor:
    """Translate the whole batch by up to ``pad`` pixels (a detector's box is never exact)."""
    h, w = x.shape[-2:]
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
    return F.pad(x, (pad,) * 4, mode="replicate")[..., dy:dy + h, dx:dx + w]


def _render_u8(n: int, split: str, seed: int, size: tuple[int, int],
               occlusion: float = OCCLUSION) -> SignBatch:
    """Render a split, keeping images as 8-bit (what a camera delivers; a quarter the memory)."""
    blocks = []
    for b in iter_blocks(n, split, seed, size, occlusion=occlusion):
        blocks.append(replace(b, images=(b.images * 255).round().to(torch.uint8)))
    return SignBatch.cat(blocks)


def _batches(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
             size: int = 512) -> Iterator[torch.Tensor]:
    for xb in x.split(size):
        yield ((xb.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)


def _predict(net: torch.nn.Module, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
             ) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(xb).argmax(1) for xb in _batches(x, mean, std)])


def _fit(net: torch.nn.Module, data: SignBatch, val: SignBatch, recipe: dict[str, float],
         seed: int, deadline: float) -> dict[str, Any]:
    """Train ``net`` in place; returns what the metadata records about the run."""
    x, y = data.images, data.labels
    xf = x[:2048].float() / 255
    mean, std = xf.mean((0, 2, 3), keepdim=True), xf.std((0, 2, 3), keepdim=True)
    epochs, batch = int(recipe["epochs"]), int(recipe["batch"])
    opt = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe["lr"], total_steps=epochs * ((len(y) + batch - 1) // batch),
        pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    pad = max(1, x.shape[-1] // 16)
    done, val_acc = 0, 0.0
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for idx in torch.randperm(len(y), generator=g).split(batch):
            xb = _shift(x[idx].float() / 255, g, pad)
            xb = ((xb - mean) / std).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(net(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        done = epoch + 1
        val_acc = float((_predict(net, val.images, mean, std) == val.labels).float().mean())
        log.info("epoch %d/%d loss %.4f val %.2f%%", done, epochs, total / len(y), 100 * val_acc)
        if time.perf_counter() > deadline and done < epochs:
            log.warning("time budget spent: stopping after %d of %d epochs", done, epochs)
            break
    return {"mean": mean, "std": std, "epochs": done, "planned_epochs": epochs,
            "stopped_early": done < epochs, "val_accuracy": round(val_acc, 4)}


def train(arch_name: str, seed: int, minutes: float, recipe: dict[str, float],
          test_size: int, occlusion: float = OCCLUSION
          ) -> tuple[torch.nn.Module, dict[str, Any]]:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    arch = get_architecture(arch_name)
    start = time.perf_counter()
    data = _render_u8(int(recipe["train_size"]), "train", seed, arch.input_size, occlusion)
    val = _render_u8(1000, "val", seed, arch.input_size)
    data_s = time.perf_counter() - start
    log.info("rendered %d train + %d val images in %.0f s", len(data.labels), len(val.labels),
             data_s)
    net = arch.build(len(LABELS)).to(memory_format=torch.channels_last)
    fit = _fit(net, data, val, recipe, seed, start + 60 * minutes)
    train_s = time.perf_counter() - start - data_s
    test = _render_u8(test_size, "test", seed, arch.input_size)
    mean, std = fit.pop("mean"), fit.pop("std")
    report = accuracy_report(LABELS, _predict(net, test.images, mean, std), test.labels,
                             {"distance_m": test.distance_m, "yaw_deg": test.yaw_deg})
    log.info("test accuracy %.2f%% on %d images", 100 * report["accuracy"], report["n"])
    meta: dict[str, Any] = {
        "architecture": arch.name, "classes": list(LABELS), "input_size": list(arch.input_size),
        "mean": mean.flatten().tolist(), "std": std.flatten().tolist(), "seed": seed,
        "test_accuracy": report["accuracy"], "test_samples": report["n"],
        "test_split": {"split": "test", "seed": seed}, "val_accuracy": fit.pop("val_accuracy"),
        "per_bin": report["per_bin"], "per_class": report["per_class"],
        "training": {**fit, "batch": recipe["batch"], "lr": recipe["lr"],
                     "train_images": len(data.labels), "occlusion": occlusion,
                     "data_seconds": round(data_s, 1),
                     "train_seconds": round(train_s, 1), "threads": torch.get_num_threads()},
        "parameters": sum(p.numel() for p in net.parameters()), "torch": torch.__version__,
    }
    return net.to(memory_format=torch.contiguous_format), meta


@click.command()
@click.option("--arch", type=click.Choice(sorted(RECIPES)), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--minutes", type=float, default=20.0, show_default=True,
              help="Wall-clock budget; a run that exceeds it stops early (then not reproducible).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the recipe.")
@click.option("--train-size", type=click.IntRange(min=100), default=None,
              help="Override the recipe's number of training images.")
@click.option("--test-size", type=click.IntRange(min=100), default=4000, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--occlusion", type=click.FloatRange(0, 1), default=OCCLUSION, show_default=True,
              help="Share of training images with a leafy occluder painted over the sign "
                   f"(the validation and test splits keep {OCCLUSION}).")
def main(arch: str, seed: int, out: Path, minutes: float, epochs: int | None,
         train_size: int | None, test_size: int, threads: int, occlusion: float) -> None:
    """Train ARCH on rendered signs and write OUT/ARCH.pt and OUT/ARCH.json."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(threads)
    recipe = dict(RECIPES[arch])
    if epochs is not None:
        recipe["epochs"] = epochs
    if train_size is not None:
        recipe["train_size"] = train_size
    net, meta = train(arch, seed, minutes, recipe, test_size, occlusion)
    written = save_weights(net.state_dict(), meta, out / f"{arch}.pt")
    click.echo(json.dumps({k: v for k, v in written.items() if k != "per_class"}, indent=2))


if __name__ == "__main__":
    main()
