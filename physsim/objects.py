"""Physical objects: a planar texture with a physical size, a perturbable region and a label."""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch

from physsim.component import Component
from physsim.errors import UserError


@dataclass(frozen=True)
class ObjectTexture:
    """A loaded object, ready to be placed in the world.

    Attributes:
        texture: RGBA, shape (4, H, W), float in [0, 1]; alpha 0 outside the object's outline.
        mask: perturbable region, shape (1, H, W), float in [0, 1] (usually 0/1).
        size_mm: physical (width, height) of the texture's full extent, in millimetres.
        label: the class name a classifier should give the clean object.
        name: the registered object name.
    """

    texture: torch.Tensor
    mask: torch.Tensor
    size_mm: tuple[float, float]
    label: str
    name: str = ""

    def __post_init__(self) -> None:
        where = f"object {self.name!r}" if self.name else "object"
        t, m = self.texture, self.mask
        if t.ndim != 3 or t.shape[0] != 4 or 0 in t.shape:
            raise UserError(f"texture must have shape (4, H, W) RGBA, got {tuple(t.shape)}", where)
        # (NaN fails both comparisons, so a texture or mask holding one is refused too)
        if not t.is_floating_point() or not bool(((t >= 0) & (t <= 1)).all()):
            raise UserError("texture must be floating point with values in [0, 1]", where)
        if m.ndim != 3 or m.shape[0] != 1 or m.shape[1:] != t.shape[1:]:
            raise UserError(
                f"mask must have shape (1, {t.shape[1]}, {t.shape[2]}), got {tuple(m.shape)}",
                where,
            )
        if not m.is_floating_point() or not bool(((m >= 0) & (m <= 1)).all()):
            raise UserError("mask must be floating point with values in [0, 1]", where)
        if len(self.size_mm) != 2 or not all(math.isfinite(v) and v > 0 for v in self.size_mm):
            raise UserError(f"size_mm must be a positive, finite (width, height), got "
                            f"{self.size_mm}", where)

    @property
    def mm_per_pixel(self) -> float:
        """Physical size of one texture pixel (width direction), in millimetres."""
        return self.size_mm[0] / self.texture.shape[-1]


class PhysicalObject(Component):
    """A registered object. ``load()`` renders or reads its texture; registration does not."""

    kind = "object"
    label: str = ""
    size_mm: tuple[float, float] = (0.0, 0.0)

    @abstractmethod
    def load(self) -> ObjectTexture:
        """Render or read the texture. Called when a scene selects the object."""
