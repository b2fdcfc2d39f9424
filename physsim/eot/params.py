"""The parameters of a batch of EOT samples: one :data:`Params` per pipeline step.

They are everything a render depends on besides the texture, so saving them (JSON) and
rendering again reproduces the images exactly, and slicing them gives the samples of a chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from physsim.eot.base import Params, params_from_json, params_to_json
from physsim.errors import UserError

FORMAT = "physsim.eot.params/1"


@dataclass(frozen=True)
class EOTParams:
    """Params of n EOT samples, keyed by step label (``"pose"``, ``"jpeg"``...).

    Attributes:
        values: step label -> {name: tensor with first dimension n}.
        n: the number of samples.
    """

    values: dict[str, Params]
    n: int

    def __getitem__(self, label: str) -> Params:
        return self.values[label]

    def flat(self) -> dict[str, torch.Tensor]:
        """Every tensor under a dotted name, ``"pose.distance_m"`` -> (n,)."""
        return {f"{label}.{k}": v for label, p in self.values.items() for k, v in p.items()}

    def select(self, index: slice | torch.Tensor) -> EOTParams:
        """The params of the samples at ``index`` (a slice or an index tensor)."""
        values = {label: {k: v[index] for k, v in p.items()} for label, p in self.values.items()}
        n = len(range(self.n)[index]) if isinstance(index, slice) else int(index.numel())
        return EOTParams(values, n)

    def to(self, device: torch.device | str, dtype: torch.dtype) -> EOTParams:
        """Floats to ``dtype``, everything to ``device``."""
        values = {label: {k: v.to(device, dtype) if v.is_floating_point() else v.to(device)
                          for k, v in p.items()} for label, p in self.values.items()}
        return EOTParams(values, self.n)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict that :meth:`from_json` turns back into the same params."""
        return {"format": FORMAT, "n": self.n,
                "transforms": {label: params_to_json(p) for label, p in self.values.items()}}

    @classmethod
    def from_json(cls, data: Any, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32, where: str = "EOT params") -> EOTParams:
        """The inverse of :meth:`to_json`; a malformed document raises :class:`UserError`."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise UserError(f"not an EOT params document (expected format {FORMAT!r})", where)
        n, transforms = data.get("n"), data.get("transforms")
        if not isinstance(transforms, Mapping):
            raise UserError("expected a 'transforms' mapping", where)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"n: the number of samples must be a positive whole number, got "
                            f"{n!r}", where)
        values: dict[str, Params] = {}
        for label, p in transforms.items():
            if not isinstance(p, Mapping):
                raise UserError(f"params of {label!r} must be a mapping", where)
            values[label] = {}
            for key, v in p.items():
                if _has_bool(v):  # torch would read true as 1 among numbers
                    raise UserError(f"{label}.{key} must be numbers, not true or false", where)
                try:
                    values[label].update(params_from_json({key: v}, device, dtype))
                except (TypeError, ValueError, RuntimeError):
                    raise UserError(f"{label}.{key} must be a list of numbers (one per sample, "
                                    "or one list of numbers per sample)", where) from None
            for k, v in values[label].items():
                if v.ndim == 0 or v.shape[0] != n:
                    raise UserError(f"{label}.{k} must have {n} rows", where)
        return cls(values, n)


def _has_bool(value: Any) -> bool:
    """Whether a JSON value (nested lists) holds true or false anywhere."""
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return isinstance(value, bool)
