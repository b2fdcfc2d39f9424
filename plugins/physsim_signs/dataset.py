"""Rendered sign datasets: every class photographed through the EOT engine, batched and seeded.

A sample is a sign texture (optionally with an occluder painted over part of it) placed in
front of a camera by the EOT pipeline (distance, angle, crop, printer, lighting, background,
blur, noise, JPEG), over either the pipeline's procedural background or a street-like one from
:mod:`physsim_signs.scenery`. Nothing is written to disk.

Splits come from disjoint seed spaces: block ``b`` of split ``s`` with user seed ``k`` draws
from ``torch.Generator().manual_seed(s << 30 | k << 14 | b)``, so no train block can ever share
a stream with a test block. The layout fits in 32 bits on purpose: the CPU generator (mt19937)
keeps only the low 32 bits of a seed, so wider seeds would silently collide. Hence seeds below
2**16 and at most 2**14 blocks (4.19 M samples) per call.
The train split samples a wider world than val/test, which use the realistic test-time range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from physsim.eot.config import DEFAULT_TRANSFORMS
from physsim.eot.pipeline import Pipeline
from physsim.errors import UserError
from physsim_signs.catalog import LABELS, SIGNS
from physsim_signs.render import render_downsampled
from physsim_signs.scenery import occlude, street_backgrounds

#: the share of samples with an occluder painted over the sign, unless asked otherwise
OCCLUSION = 0.15

SPLITS = ("train", "val", "test")
#: samples drawn from one generator; blocks make the data independent of any batch size
BLOCK = 256
SEED_BITS = 16
BLOCK_BITS = 14
_CAMERA = {"fov_deg": 50, "resolution": [1920, 1080]}

#: the realistic test-time world: the default pipeline, with distances out to 15 m
TEST_EOT: dict[str, Any] = {"camera": _CAMERA, "transforms": [
    {"pose": {**DEFAULT_TRANSFORMS[0]["pose"], "distance_m": [1.5, 15.0]}},
    *DEFAULT_TRANSFORMS[1:],
]}
#: the training world: every range somewhat wider than at test time
TRAIN_EOT: dict[str, Any] = {"camera": _CAMERA, "transforms": [
    {"pose": {"distance_m": [1.0, 20.0], "yaw_deg": [-55, 55], "pitch_deg": [-15, 15],
              "roll_deg": [-12, 12], "offset": [-0.3, 0.3]}},
    {"crop": {"margin": [0.03, 0.3], "jitter": 0.08}},
    {"printer": {"profile": "default"}},
    {"lighting": {"exposure_stops": [-1.5, 1.5], "contrast": [0.7, 1.3], "gamma": [0.8, 1.2],
                  "kelvin": [3000, 8000], "shadow": [0.0, 0.5]}},
    {"background": {"kind": "procedural"}},
    {"defocus": {"sigma_px": [0.0, 1.5]}},
    {"motion_blur": {"length_px": [0, 4]}},
    {"sensor_noise": {"poisson_scale": [0, 0.015], "gaussian_std": [0, 0.03]}},
    {"jpeg": {"quality": [30, 95]}},
]}


@dataclass(frozen=True)
class SignBatch:
    """Rendered samples.

    Attributes:
        images: (n, 3, h, w) float in [0, 1].
        labels: (n,) int64 indices into :data:`physsim_signs.catalog.LABELS`.
        distance_m: (n,) camera-to-sign distance.
        yaw_deg: (n,) horizontal view angle (0 = facing the camera).
        occluded: (n,) bool, whether an occluder was painted over the sign.
    """

    images: torch.Tensor
    labels: torch.Tensor
    distance_m: torch.Tensor
    yaw_deg: torch.Tensor
    occluded: torch.Tensor

    @staticmethod
    def cat(batches: list[SignBatch]) -> SignBatch:
        return SignBatch(*(torch.cat([getattr(b, f) for b in batches])
                           for f in ("images", "labels", "distance_m", "yaw_deg", "occluded")))


def block_seed(split: str, seed: int, block: int) -> int:
    """The generator seed of one block: unique across splits, seeds and blocks in 32 bits."""
    if split not in SPLITS:
        raise UserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", "dataset")
    if not 0 <= seed < 1 << SEED_BITS:
        raise UserError(f"seed must be in [0, {1 << SEED_BITS}), got {seed}", "dataset")
    if not 0 <= block < 1 << BLOCK_BITS:
        raise UserError(f"at most {BLOCK << BLOCK_BITS} samples per call", "dataset")
    return SPLITS.index(split) << (SEED_BITS + BLOCK_BITS) | seed << BLOCK_BITS | block


@lru_cache(maxsize=8)
def _texture_groups(texture_px: int) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...]:
    """Class textures grouped by pixel shape (render_pairs needs one shape per call):
    per group (class indices (k,), textures (k, 4, H, W), size_mm (k, 2))."""
    groups: dict[tuple[int, int], list[int]] = {}
    textures = [render_downsampled(s.label, texture_px) for s in SIGNS]
    for i, t in enumerate(textures):
        groups.setdefault((t.shape[1], t.shape[2]), []).append(i)
    return tuple((torch.tensor(idx), torch.stack([textures[i] for i in idx]),
                  torch.tensor([SIGNS[i].size_mm for i in idx], dtype=torch.float64))
                 for idx in groups.values())


def _render_block(pipe: Pipeline, m: int, g: torch.Generator, texture_px: int,
                  occlusion: float, street_fraction: float) -> SignBatch:
    dev = pipe.device
    c = len(LABELS)
    start = int(torch.randint(0, c, (1,), generator=g, device=dev))
    labels = ((torch.arange(m, device=dev) + start) % c)[torch.randperm(m, generator=g,
                                                                         device=dev)]
    params = pipe.sample(m, g)
    use_street = torch.rand(m, generator=g, device=dev) < street_fraction
    street = torch.zeros(m, 3, *pipe.output_size, device=dev, dtype=pipe.dtype)
    street[use_street] = street_backgrounds(int(use_street.sum()), pipe.output_size, g, dev)
    images = torch.empty(m, 3, *pipe.output_size, device=dev, dtype=pipe.dtype)
    occluded = torch.zeros(m, dtype=torch.bool, device=dev)
    for classes, textures, size_mm in _texture_groups(texture_px):
        # position of each sample's class within this group, -1 if not in it
        where = torch.full((c,), -1, dtype=torch.long, device=dev)
        where[classes.to(dev)] = torch.arange(len(classes), device=dev)
        pos = where[labels]
        members = (pos >= 0).nonzero().flatten()
        tex, occ = occlude(textures.to(dev)[pos[members]], g, occlusion)
        occluded[members] = occ
        for street_bg in (False, True):
            keep = use_street[members] == street_bg
            idx = members[keep]
            if len(idx):
                images[idx] = pipe.render_pairs(
                    tex[keep], size_mm[pos[idx].cpu()], params.select(idx),
                    background=street[idx] if street_bg else None)
    meta = pipe.render_meta(params)
    return SignBatch(images, labels, meta["distance_m"], meta["yaw_deg"], occluded)


def iter_blocks(n: int, split: str, seed: int, size: tuple[int, int], *,
                device: str | torch.device = "cpu", eot: Mapping[str, Any] | None = None,
                texture_px: int | None = None, occlusion: float = OCCLUSION,
                street_fraction: float = 0.5) -> Iterator[SignBatch]:
    """Yield the samples of :func:`generate` block by block (to convert or store as they come).

    Args: see :func:`generate`.
    """
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}", "dataset")
    block_seed(split, seed, (n - 1) // BLOCK)  # validate before any work
    config = eot if eot is not None else (TRAIN_EOT if split == "train" else TEST_EOT)
    pipe = Pipeline.from_config(config, output_size=size, device=device)
    # twice the window is plenty for the mip-mapped warp; more only costs time
    px = texture_px or min(512, max(64, 2 * max(size)))
    for b in range((n + BLOCK - 1) // BLOCK):
        g = torch.Generator(device=pipe.device).manual_seed(block_seed(split, seed, b))
        m = min(BLOCK, n - b * BLOCK)
        with torch.no_grad():
            yield _render_block(pipe, m, g, px, occlusion, street_fraction)


def generate(n: int, split: str, seed: int, size: tuple[int, int], *,
             device: str | torch.device = "cpu", eot: Mapping[str, Any] | None = None,
             texture_px: int | None = None, occlusion: float = OCCLUSION,
             street_fraction: float = 0.5) -> SignBatch:
    """Render ``n`` labelled sign photographs of one split.

    Args:
        n: number of samples; classes are balanced within every block of 256.
        split: "train" (wider world), "val" or "test" (the realistic test-time range).
        seed: in [0, 2**16); with ``split`` it fixes the data.
        size: (h, w) of the images, the classifier's input size.
        device: where to render.
        eot: an ``eot:`` mapping to use instead of the split's default world.
        texture_px: texture resolution to render from (default twice the output size, at
            least 64 and at most 512 px: 64 px for 32×32 outputs, 128 px for 64×64).
        occlusion: share of samples with an occluder painted over the sign.
        street_fraction: share of samples over a street-like background instead of the
            pipeline's procedural one.

    Returns:
        A :class:`SignBatch` of n samples.
    """
    return SignBatch.cat(list(iter_blocks(n, split, seed, size, device=device, eot=eot,
                                          texture_px=texture_px, occlusion=occlusion,
                                          street_fraction=street_fraction)))
