"""Physical adversarial training: fine-tune ``sign_resnet`` on EOT renders carrying stickers.

Usage::

    python scripts/train_physical_defense.py [--minutes 14] [--seed 0] [--threads 2] \
        [--out plugins/physsim_defenses/weights]

Every step draws a batch of sign textures, pastes 2 to 6 rectangular stickers (about
``--area`` of the sign face, RP2's budget in ``stop_sign_sticker``) at random places on half
of them, and gives the stickers adversarial colours: a few signed-gradient steps that raise
the classifier's loss through the EOT renderer, fresh physical conditions each step (the
inner maximisation of Madry et al. 2017, over sticker colours as in RP2, Eykholt et al.
2018). Half of the stickers are then quantised to black and white as RP2 prints them. The
network trains on the stickered renders and on clean renders of the other half, under the
training world of :mod:`physsim_signs.dataset`. Writes
``adv_train_physical-sign_resnet.{pt,json}`` with the clean accuracy and the accuracy under
a fresh sticker attack, before and after.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import click
import torch
import torch.nn.functional as F
from physsim_defenses._weights import weights_dir
from physsim_models.weights import file_sha256, save_weights
from physsim_signs.catalog import LABELS, SIGNS
from physsim_signs.classifiers import SignResNetClassifier
from physsim_signs.classifiers import weights_dir as sign_weights
from physsim_signs.dataset import TRAIN_EOT, generate
from physsim_signs.render import render_downsampled
from torch import nn

from physsim.eot.pipeline import Pipeline

TEXTURE_PX = 128


def square_textures() -> tuple[torch.Tensor, torch.Tensor]:
    """Every class's texture centred on a transparent square: (C, 4, P, P) and its side in mm
    (C,), so one ``render_pairs`` call can take any mix of classes."""
    out, sides = [], []
    for spec in SIGNS:
        t = render_downsampled(spec.label, TEXTURE_PX)
        canvas = torch.zeros(4, TEXTURE_PX, TEXTURE_PX)
        h, w = t.shape[-2:]
        top, left = (TEXTURE_PX - h) // 2, (TEXTURE_PX - w) // 2
        canvas[:, top:top + h, left:left + w] = t
        out.append(canvas)
        sides.append(max(spec.size_mm))
    return torch.stack(out), torch.tensor(sides, dtype=torch.float64)


def sticker_masks(alpha: torch.Tensor, k: int, area: float, g: torch.Generator) -> torch.Tensor:
    """(B, 1, P, P) face alpha -> (B, 1, P, P) masks of k random rectangles on the face whose
    total area is about ``area`` of the face."""
    b, _, p, _ = alpha.shape
    face = (alpha > 0.5).float()
    centre = torch.multinomial(face.flatten(1), k, generator=g)  # (B, k)
    cy, cx = (centre // p).float(), (centre % p).float()
    side = (area * face.flatten(1).sum(1, keepdim=True) / k).sqrt()  # (B, 1)
    aspect = torch.exp((torch.rand(b, k, generator=g) - 0.5) * math.log(4.0))
    hy, hx = side * aspect.sqrt() / 2, side / aspect.sqrt() / 2
    ys = torch.arange(p).view(1, 1, p, 1).float()
    xs = torch.arange(p).view(1, 1, 1, p).float()
    inside = ((ys - cy[..., None, None]).abs() <= hy[..., None, None]) & \
             ((xs - cx[..., None, None]).abs() <= hx[..., None, None])
    return inside.any(1, keepdim=True).float() * face


class StickerWorld:
    """Renders sign textures, with or without stickers, through the training EOT world."""

    def __init__(self, seed: int) -> None:
        self.textures, self.sides = square_textures()
        self.pipe = Pipeline.from_config(TRAIN_EOT, output_size=(64, 64))
        self.g = torch.Generator().manual_seed(seed)

    def render(self, tex: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
        params = self.pipe.sample(tex.shape[0], self.g)
        return self.pipe.render_pairs(tex, sides.view(-1, 1).expand(-1, 2), params)

    def attack(self, model: nn.Module, labels: torch.Tensor, k: int, area: float,
               steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stickered textures with adversarial colours: (B, 4, P, P) and their sides."""
        tex, sides = self.textures[labels], self.sides[labels]
        mask = sticker_masks(tex[:, 3:], k, area, self.g)
        w = (torch.rand(tex.shape[0], 3, 1, 1, generator=self.g) * 4 - 2).expand(
            -1, -1, TEXTURE_PX, TEXTURE_PX).clone().requires_grad_(True)

        def paste(colour: torch.Tensor) -> torch.Tensor:
            rgb = tex[:, :3] * (1 - mask) + mask * colour
            return torch.cat([rgb, tex[:, 3:]], 1)

        for _ in range(steps):
            loss = F.cross_entropy(model(self.render(paste(torch.sigmoid(w)), sides)), labels)
            (grad,) = torch.autograd.grad(loss, w)
            w = (w + 1.5 * grad.sign()).detach().requires_grad_(True)
        colour = torch.sigmoid(w.detach())
        bw = torch.rand(tex.shape[0], 1, 1, 1, generator=self.g) < 0.5
        colour = torch.where(bw, (colour.mean(1, keepdim=True) > 0.5).float().expand_as(colour),
                             colour)
        return paste(colour), sides


def measure(model: nn.Module, seed: int) -> dict[str, float]:
    """Clean accuracy on 1000 rendered test signs; accuracy under a fresh 10-step sticker
    attack on 190 renders (10 per class) in the training world (the same draws every call)."""
    world = StickerWorld(seed + 1)
    test = generate(1000, "test", seed, (64, 64))
    with torch.no_grad():
        clean = (model(test.images).argmax(1) == test.labels).float().mean().item()
    labels = torch.arange(len(LABELS)).repeat(10)
    tex, sides = world.attack(model, labels, 2, 0.08, 10)
    with torch.no_grad():
        sticker = (model(world.render(tex, sides)).argmax(1) == labels).float().mean().item()
    return {"clean_accuracy": round(clean, 4), "sticker_attack_accuracy": round(sticker, 4)}


@click.command()
@click.option("--minutes", type=float, default=14.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch", type=int, default=32, show_default=True)
@click.option("--area", type=float, default=0.1, show_default=True, help="sticker area share")
@click.option("--max-stickers", type=int, default=6, show_default=True,
              help="each step pastes 2 to this many stickers")
@click.option("--adv-steps", type=int, default=4, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True,
              help="torch threads (1 on a machine whose cores are busy with other work)")
@click.option("--out", type=click.Path(path_type=Path), default=None)
def main(minutes: float, seed: int, batch: int, area: float, max_stickers: int,
         adv_steps: int, threads: int, out: Path | None) -> None:
    """Fine-tune sign_resnet against stickers and write adv_train_physical-sign_resnet."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    base = SignResNetClassifier.create()
    net = copy.deepcopy(base.net).train()
    for p in net.parameters():
        p.requires_grad_(True)

    def model(x: torch.Tensor) -> torch.Tensor:
        return net((x - base.mean) / base.std)

    world = StickerWorld(seed)
    before = measure(base, seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < minutes * 60:
        labels = torch.randint(len(LABELS), (batch,), generator=world.g)
        half = batch // 2
        net.eval()  # batch-norm statistics stay those of the clean data while attacking
        k = int(torch.randint(2, max_stickers + 1, (1,), generator=world.g))
        tex, sides = world.attack(model, labels[:half], k, area, adv_steps)
        net.train()
        images = torch.cat([world.render(tex, sides).detach(),
                            world.render(world.textures[labels[half:]],
                                         world.sides[labels[half:]])])
        loss = F.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    net.eval()
    clf = SignResNetClassifier(net, base.labels, base.input_size, base.mean.flatten().tolist(),
                               base.std.flatten().tolist())
    after = measure(clf, seed)
    meta = {"architecture": "sign_resnet", "classes": list(base.labels),
            "input_size": list(base.input_size), "mean": base.mean.flatten().tolist(),
            "std": base.std.flatten().tolist(), "defense": "adv_train_physical",
            "base_classifier": "sign_resnet",
            "base_sha256": file_sha256(sign_weights() / "sign_resnet.pt"), "seed": seed,
            "steps": steps, "batch": batch, "sticker_area": area,
            "stickers": [2, max_stickers],
            "adversarial_steps": adv_steps, "train_seconds": round(time.perf_counter() - start),
            "before": before, "after": after, "torch": torch.__version__}
    written = save_weights(net.state_dict(), meta,
                           (out or weights_dir()) / "adv_train_physical-sign_resnet.pt")
    click.echo(json.dumps({k: v for k, v in written.items()
                           if k not in ("classes", "mean", "std")}))


if __name__ == "__main__":
    main()
