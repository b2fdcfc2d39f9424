"""The rendered sign dataset: shapes, determinism, disjoint splits, scenery."""

from __future__ import annotations

import itertools

import pytest
import torch
from physsim_signs import dataset
from physsim_signs.catalog import LABELS
from physsim_signs.render import render_downsampled
from physsim_signs.scenery import occlude, street_backgrounds

from physsim.errors import UserError

N = len(LABELS) * 2


@pytest.fixture(scope="module")
def batch() -> dataset.SignBatch:
    return dataset.generate(N, "test", 0, (32, 32))


def test_shapes_and_ranges(batch: dataset.SignBatch) -> None:
    assert batch.images.shape == (N, 3, 32, 32) and batch.images.dtype == torch.float32
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert batch.labels.dtype == torch.int64
    for t in (batch.labels, batch.distance_m, batch.yaw_deg, batch.occluded):
        assert t.shape == (N,)
    # the test split samples the realistic range: 1.5-15 m, |yaw| <= 45 degrees
    assert batch.distance_m.min() >= 1.5 and batch.distance_m.max() <= 15
    assert batch.yaw_deg.abs().max() <= 45


def test_classes_balanced_within_a_block(batch: dataset.SignBatch) -> None:
    assert torch.bincount(batch.labels, minlength=len(LABELS)).tolist() == [2] * len(LABELS)


def test_deterministic(batch: dataset.SignBatch) -> None:
    again = dataset.generate(N, "test", 0, (32, 32))
    assert torch.equal(batch.images, again.images) and torch.equal(batch.labels, again.labels)


def test_splits_and_seeds_differ() -> None:
    first = {key: dataset.generate(6, *key, (16, 16)) for key in
             (("train", 0), ("val", 0), ("test", 0), ("test", 1))}
    for a, b in itertools.combinations(first, 2):
        assert not torch.equal(first[a].images, first[b].images), (a, b)


def test_block_seeds_are_disjoint_across_splits() -> None:
    # the CPU generator only uses a seed's low 32 bits: the seeds must differ there
    seeds = [dataset.block_seed(split, s, b) for split in dataset.SPLITS
             for s in (0, 1, 2**16 - 1) for b in (0, 1, 2**14 - 1)]
    assert all(0 <= s < 2**32 for s in seeds) and len(set(seeds)) == len(seeds)
    streams = {split: torch.rand(4, generator=torch.Generator().manual_seed(
        dataset.block_seed(split, 0, 0))) for split in dataset.SPLITS}
    assert not torch.equal(streams["val"], streams["test"])
    assert not torch.equal(streams["train"], streams["test"])


def test_bad_arguments() -> None:
    with pytest.raises(UserError, match="split must be one of"):
        dataset.generate(4, "holdout", 0, (32, 32))
    with pytest.raises(UserError, match="seed must be in"):
        dataset.generate(4, "test", -1, (32, 32))
    with pytest.raises(UserError, match="seed must be in"):
        dataset.generate(4, "test", 2**16, (32, 32))
    with pytest.raises(UserError, match="samples per call"):
        dataset.generate(256 * 2**14 + 1, "test", 0, (32, 32))
    with pytest.raises(UserError, match="n must be >= 1"):
        dataset.generate(0, "test", 0, (32, 32))


def test_street_backgrounds_seeded_and_in_range() -> None:
    a = street_backgrounds(6, (24, 40), torch.Generator().manual_seed(3))
    b = street_backgrounds(6, (24, 40), torch.Generator().manual_seed(3))
    assert a.shape == (6, 3, 24, 40) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.05


def test_occlusion_paints_only_the_face() -> None:
    tex = render_downsampled("stop", 64).expand(8, -1, -1, -1).contiguous()
    out, active = occlude(tex, torch.Generator().manual_seed(0), fraction=1.0)
    assert active.all()
    assert torch.equal(out[:, 3], tex[:, 3])  # alpha untouched
    outside = tex[:, 3:] == 0
    assert torch.equal(out[:, :3][outside.expand(-1, 3, -1, -1)],
                       tex[:, :3][outside.expand(-1, 3, -1, -1)])
    assert ((out - tex).abs().amax((1, 2, 3)) > 0.2).all()  # every sample visibly occluded
    none, active = occlude(tex, torch.Generator().manual_seed(0), fraction=0.0)
    assert not active.any() and torch.equal(none, tex)
