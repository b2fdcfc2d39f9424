"""Train the domain networks of MagNet and Defense-GAN on the digits and ship their weights.

Usage::

    python scripts/train_defense_nets.py [--only magnet|defense_gan] [--seed 0] \
        [--out plugins/physsim_defenses/weights]

Writes ``magnet-digits.pt`` (MagNet's autoencoder, Meng and Chen 2017, trained to reconstruct
noisy training digits) and ``defense_gan-digits.pt`` (the generator of a small GAN,
Goodfellow et al. 2014, with the non-saturating loss), each with ``.json`` metadata: sha256,
settings, and the digits classifier's clean test accuracy behind the reformer or projection.
Both networks see only the training split. About a minute each on two CPU cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import torch
import torch.nn.functional as F
from physsim_defenses._weights import weights_dir
from physsim_defenses.defense_gan import DefenseGAN
from physsim_defenses.magnet import MagNetReformer
from physsim_defenses.nets import DOMAINS, Generator, MagNetAE
from physsim_digits.classifier import DigitsClassifier
from physsim_digits.data import load_digits_split
from physsim_models.weights import save_weights
from torch import nn

from physsim.defense import InputTransform

DOMAIN = DOMAINS["digits"]


def grey(split: str) -> torch.Tensor:
    return DOMAIN.to_net(load_digits_split(split)[0])


def train_autoencoder(seed: int, epochs: int, noise: float, width: int) -> nn.Module:
    """Minimise ||AE(x + noise) - x||^2 plus weight decay (MagNet's training objective)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = grey("train")
    ae = MagNetAE(DOMAIN.channels, width)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-3, weight_decay=1e-6)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            xb = x[idx]
            noisy = (xb + noise * torch.randn(xb.shape, generator=g)).clamp(0, 1)
            loss = F.mse_loss(ae(noisy), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return ae.eval()


def discriminator(pixels: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden // 2), nn.LeakyReLU(0.2),
                         nn.Linear(hidden // 2, 1))


def train_gan(seed: int, iterations: int, latent: int, hidden: int) -> Generator:
    """The non-saturating GAN game with Adam(2e-4, beta1 = 0.5) (Radford et al. 2015)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = grey("train")
    gen = Generator(latent, DOMAIN.channels, DOMAIN.input_size, hidden)
    disc = discriminator(x[0].numel(), hidden)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    for _ in range(iterations):
        real = x[torch.randint(len(x), (64,), generator=g)]
        fake = gen(torch.randn(64, latent, generator=g))
        d_loss = (F.binary_cross_entropy_with_logits(disc(real), ones)
                  + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(disc(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return gen.eval()


def accuracy_behind(defense: InputTransform) -> float:
    """The digits classifier's test accuracy on the defense's output (its clean cost)."""
    clf = DigitsClassifier.create()
    x, y = load_digits_split("test")
    with torch.no_grad():
        return round((clf(defense.transform(x)).argmax(1) == y).float().mean().item(), 4)


@click.command()
@click.option("--only", type=click.Choice(["magnet", "defense_gan"]), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the weights (default: the shipped physsim_defenses/weights).")
def main(only: str | None, seed: int, out: Path | None) -> None:
    """Train MagNet's autoencoder and Defense-GAN's generator for the digits."""
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    folder = out or weights_dir()
    common = {"domain": DOMAIN.name, "input_size": list(DOMAIN.input_size),
              "channels": DOMAIN.channels, "seed": seed, "data": "digits train split",
              "torch": torch.__version__}
    if only in (None, "magnet"):
        start = time.perf_counter()
        settings = {"architecture": "magnet_ae", "width": 16, "epochs": 150, "noise": 0.1}
        ae = train_autoencoder(seed, 150, 0.1, 16)
        path = folder / "magnet-digits.pt"
        save_weights(ae.state_dict(), {**common, **settings}, path)
        acc = accuracy_behind(MagNetReformer({"weights": path}))
        meta = save_weights(ae.state_dict(), {**common, **settings, "reformed_accuracy": acc,
                                              "train_seconds": round(time.perf_counter() - start,
                                                                     1)}, path)
        click.echo(json.dumps(meta))
    if only in (None, "defense_gan"):
        start = time.perf_counter()
        settings = {"architecture": "mlp_generator", "latent": 16, "hidden": 256,
                    "iterations": 8000}
        gen = train_gan(seed, 8000, 16, 256)
        path = folder / "defense_gan-digits.pt"
        save_weights(gen.state_dict(), {**common, **settings}, path)
        acc = accuracy_behind(DefenseGAN({"weights": path}))
        meta = save_weights(gen.state_dict(), {**common, **settings, "projected_accuracy": acc,
                                               "train_seconds": round(time.perf_counter() - start,
                                                                      1)}, path)
        click.echo(json.dumps(meta))


if __name__ == "__main__":
    main()
