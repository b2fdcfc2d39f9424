"""Train ``digits_cnn`` on the scikit-learn 8×8 digits and write its weights and metadata.

Usage::

    python scripts/train_digits_classifier.py [--seed 0] [--epochs 20] \
        [--out plugins/physsim_digits/weights]

Deterministic for a given seed on CPU (seeded initialisation and shuffling, deterministic
algorithms). Takes well under a minute on two cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import torch
import torch.nn.functional as F
from physsim_digits.data import LABELS, SPLIT_SEED, TEST_FRACTION, load_digits_split
from physsim_digits.model import DigitsCNN
from physsim_models.weights import save_weights

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "plugins" / "physsim_digits" / "weights"


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift each digit by up to one pixel (the digits are not perfectly centred either)."""
    padded = F.pad(x, (1, 1, 1, 1))
    dx, dy = torch.randint(0, 3, (2,), generator=g).tolist()
    return padded[..., dy:dy + 8, dx:dx + 8]


def train(seed: int, epochs: int) -> tuple[DigitsCNN, dict[str, object]]:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = load_digits_split("train")
    x_test, y_test = load_digits_split("test")
    mean = x_train.mean().item()
    std = x_train.std().item()
    net = DigitsCNN(len(LABELS))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(y_train), generator=g).split(64):
            xb = (_augment(x_train[idx], g) - mean) / std
            loss = F.cross_entropy(net(xb), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc = (net((x_test - mean) / std).argmax(1) == y_test).float().mean().item()
    meta: dict[str, object] = {
        "architecture": "digits_cnn", "classes": list(LABELS), "input_size": [8, 8],
        "mean": [mean] * 3, "std": [std] * 3, "seed": seed, "epochs": epochs,
        "split": {"seed": SPLIT_SEED, "test_fraction": TEST_FRACTION,
                  "train": len(y_train), "test": len(y_test)},
        "test_accuracy": round(acc, 4), "torch": torch.__version__,
    }
    return net, meta


@click.command()
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
def main(seed: int, epochs: int, out: Path) -> None:
    """Train digits_cnn and write OUT/digits_cnn.pt and OUT/digits_cnn.json."""
    torch.set_num_threads(2)
    start = time.perf_counter()
    net, meta = train(seed, epochs)
    meta["train_seconds"] = round(time.perf_counter() - start, 1)
    written = save_weights(net.state_dict(), meta, out / "digits_cnn.pt")
    click.echo(json.dumps(written, indent=2))


if __name__ == "__main__":
    main()
