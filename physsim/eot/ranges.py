"""Ranges in physical units for transform options, and how they are drawn.

A range in a scene file is either one number (fixed) or ``[low, high]`` (uniform between them).
Options declare them as ``Annotated[Pair, Bounds(...)]``; the bounds state the physically
possible values, so that an impossible range fails with a message naming the field::

    class Options(physsim.options.Options):
        distance_m: Annotated[Pair, Bounds(gt=0)] = (1.5, 12.0)
        quality: Annotated[Pair, Bounds(ge=1, le=100)] = (40.0, 95.0)

    eot.transforms[0].pose.distance_m: must be > 0, got [-1.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import torch
from pydantic import GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

from physsim.options import describe_validation_error

#: A validated range: (low, high) with low <= high.
Pair = tuple[float, float]


def _to_pair(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number or [low, high]")
    if isinstance(value, int | float):
        return (float(value), float(value))
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"expected a number or [low, high], got {len(value)} values")
        return tuple(value)
    raise ValueError(f"expected a number or [low, high], got {value!r}")


def _check(pair: Pair, gt: float | None, ge: float | None, lt: float | None,
           le: float | None, abs_lt: float | None) -> Pair:
    lo, hi = pair
    shown = f"[{lo:g}, {hi:g}]" if lo != hi else f"{lo:g}"
    if lo > hi:
        raise ValueError(f"low must be <= high, got {shown}")
    if gt is not None and not lo > gt:
        raise ValueError(f"must be > {gt:g}, got {shown}")
    if ge is not None and not lo >= ge:
        raise ValueError(f"must be >= {ge:g}, got {shown}")
    if lt is not None and not hi < lt:
        raise ValueError(f"must be < {lt:g}, got {shown}")
    if le is not None and not hi <= le:
        raise ValueError(f"must be <= {le:g}, got {shown}")
    if abs_lt is not None and not max(abs(lo), abs(hi)) < abs_lt:
        raise ValueError(f"must lie strictly between -{abs_lt:g} and {abs_lt:g}, got {shown}")
    return (float(lo), float(hi))


#: the farthest an object may be, metres (100 km: a 750 mm sign is then a hundredth of a
#: camera pixel; far beyond it the composed homography loses its precision in float64); the
#: pose's ``distance_m`` and a scene's evaluation grid are held to it
FAR_M = 100_000.0


@dataclass(frozen=True)
class Bounds:
    """Pydantic metadata for a :data:`Pair` option: accepts a number or [low, high], checks limits.

    Attributes:
        gt, ge, lt, le: strict / inclusive lower and upper limits on both ends.
        abs_lt: both ends strictly inside (-abs_lt, abs_lt), e.g. 90 for view angles.
    """

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    abs_lt: float | None = None

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        check = partial(_check, gt=self.gt, ge=self.ge, lt=self.lt, le=self.le,
                        abs_lt=self.abs_lt)
        inner = core_schema.no_info_after_validator_function(check, handler(source))
        return core_schema.no_info_before_validator_function(_to_pair, inner)


def uniform(pair: Pair, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) float32 draws, uniform in ``pair``, on the generator's device.

    A fixed value still consumes n draws, so the random stream of the transforms after it does
    not depend on whether this one is fixed.
    """
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float32)
    lo, hi = pair
    return lo + (hi - lo) * u


def uniforms(pairs: dict[str, Pair], n: int, generator: torch.Generator
             ) -> dict[str, torch.Tensor]:
    """Several :func:`uniform` draws in one: ``{name: (n,) float32}``, the same values as
    calling :func:`uniform` for each pair in order (on a CPU generator, bit for bit), with
    four tensor operations instead of three per pair.
    """
    dev = generator.device
    u = torch.rand(len(pairs), n, generator=generator, device=dev, dtype=torch.float32)
    lo, span = _ends(tuple(pairs.values()), dev)
    return dict(zip(pairs, (lo + span * u).unbind(0), strict=True))


@lru_cache(maxsize=64)
def _ends(pairs: tuple[Pair, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, 1) float32 lows and high - low of ``pairs``, made once per device."""
    lo = torch.tensor([[p[0]] for p in pairs], dtype=torch.float32, device=device)
    span = torch.tensor([[p[1] - p[0]] for p in pairs], dtype=torch.float32, device=device)
    return lo, span


def describe(exc: ValidationError, where: str) -> str:
    """The first pydantic error as ``where.field: message`` (the message as
    :func:`physsim.options.describe_validation_error` words it)."""
    line = describe_validation_error(exc)
    return f"{where}.{line}" if exc.errors()[0]["loc"] else f"{where}: {line}"
