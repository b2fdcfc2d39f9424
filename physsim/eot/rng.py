"""Counter-based random numbers: noise fields as a pure function of (seed, element index).

EOT params must replay exactly and be sliceable into chunks, so a noise field cannot come from a
generator's running state. Each sample carries an integer seed, and its field is a pure function
of the seed and the element index, computed for the whole batch at once with integer tensor
arithmetic, which gives the same bits on every device.

- :func:`uniform_field` hashes (seed, index) with a two-round xorshift-multiply (Wellons' "hash
  prospector" constants 0x21f0aaad, 0x735a2d97; both below 2**31, so products of 32-bit values
  stay inside int64).
- :func:`normal_field`, which runs on every pixel of every sample, reads a fixed bank of 2**18
  standard normal draws (made once per device from a fixed seed; 1 MB, so it stays in cache)
  along an arithmetic sequence whose start and odd stride come from the seed's hash: a quarter
  of the cost of hashing every element, and the draws of one field are distinct entries of the
  bank. Larger fields (beyond 2**18 elements per sample) use Box-Muller on hashed uniforms.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from physsim.eot.base import Params, require

_MASK = 0xFFFFFFFF
#: Seeds are drawn below this, so they survive a round trip through float32 exactly.
SEED_LIMIT = 1 << 24
_BANK_BITS = 18
_BANK_MASK = (1 << _BANK_BITS) - 1


def hash32(x: torch.Tensor) -> torch.Tensor:
    """Integer tensor (values in [0, 2**32)) -> well-mixed 32-bit integers, same shape (int64)."""
    x = x & _MASK
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _MASK
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _MASK
    return x ^ (x >> 15)


def require_seed(params: Params, name: str = "seed") -> None:
    """ValueError unless ``params[name]`` holds seeds :func:`draw_seeds` can draw."""
    require(params, name, f"a seed from 0 to {SEED_LIMIT - 1}",
            lambda v: (v >= 0) & (v < SEED_LIMIT))


def draw_seeds(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) int64 seeds in [0, 2**24) from ``generator``, on its device."""
    return torch.randint(0, SEED_LIMIT, (n,), generator=generator, device=generator.device)


def uniform_field(seeds: torch.Tensor, shape: tuple[int, ...], stream: int = 0,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, *shape) uniforms in (0, 1): element j of sample i is a function of seeds[i], j, stream.

    Args:
        seeds: (n,) integer seeds.
        shape: the per-sample shape of the field.
        stream: separates independent fields drawn from the same seed.
        dtype: the float type returned.
    """
    return uniform_fields(seeds, ((shape, stream),), dtype)[0]


def uniform_fields(seeds: torch.Tensor, fields: tuple[tuple[tuple[int, ...], int], ...],
                   dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Several :func:`uniform_field` fields ``((shape, stream), ...)`` of the same seeds, the same
    values, hashed together (one set of integer operations for all of them)."""
    n, dev = seeds.shape[0], seeds.device
    counts = tuple(math.prod(shape) for shape, _ in fields)
    streams = _stream_keys(tuple(stream for _, stream in fields), dev)
    key = hash32(seeds.long().view(-1, 1) * 0x9E3779B1 + streams)  # (n, fields)
    if len(fields) > 1:  # each field's key over its elements
        key = key.repeat_interleave(_counts(counts, dev), dim=1, output_size=sum(counts))
    h = hash32(key ^ _indices(counts, dev))
    # 24 high bits fill a float32 mantissa; +0.5 keeps the value away from 0 and 1
    u = ((h >> 8).to(dtype) + 0.5) * (1.0 / (1 << 24))
    return [part.view(n, *shape) for part, (shape, _) in zip(u.split(counts, 1), fields,
                                                               strict=True)]


@lru_cache(maxsize=32)
def _stream_keys(streams: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(1, k) int64: what each stream adds to the seed's key."""
    return torch.tensor([[s * 0x85EBCA77 for s in streams]], dtype=torch.int64, device=device)


@lru_cache(maxsize=32)
def _counts(counts: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(counts, dtype=torch.int64, device=device)


@lru_cache(maxsize=32)
def _indices(counts: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(1, sum(counts)): each field's element indices 0, 1, ..., count - 1, one after another."""
    parts = [torch.arange(c, dtype=torch.int64, device=device) for c in counts]
    return torch.cat(parts).view(1, -1)


@lru_cache(maxsize=8)
def _bank(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0x5EED)
    return torch.randn(1 << _BANK_BITS, generator=g).to(device=device, dtype=dtype)


def normal_field(seeds: torch.Tensor, shape: tuple[int, ...], stream: int = 0,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, *shape) standard normal draws: element j of sample i depends on seeds[i], j, stream."""
    count = math.prod(shape)
    if count > 1 << _BANK_BITS:
        u1, u2 = uniform_fields(seeds, ((shape, 2 * stream), (shape, 2 * stream + 1)), dtype)
        return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    n, dev = seeds.shape[0], seeds.device
    key = hash32(seeds.long() * 0x9E3779B1 + stream * 0x85EBCA77 + 0x632BE5AB)
    start = (key & _BANK_MASK).view(-1, 1, 1)
    stride = ((hash32(key) & _BANK_MASK) | 1).view(-1, 1, 1)
    # position (start + j stride) mod 2**18 of element j = r * last + c, as a sum of a per-row
    # and a per-column term: one full-size integer addition, in int32
    last = shape[-1] if shape else 1
    rows = torch.arange(count // last, device=dev, dtype=torch.int64).view(1, -1, 1)
    cols = torch.arange(last, device=dev, dtype=torch.int64).view(1, 1, -1)
    r = ((start + rows * last * stride) & _BANK_MASK).int()
    c = ((cols * stride) & _BANK_MASK).int()
    pos = (r + c) & _BANK_MASK
    return _bank(dev, dtype).index_select(0, pos.view(-1)).view(n, *shape)
