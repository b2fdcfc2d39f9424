"""Checkpoints of a running attack, so an interrupted run can be finished with ``--resume``.

An attack that can resume (``Attack.resumable``) saves its whole state through the
:class:`CheckpointStore` it is given: parameters, optimiser state, the objective's random
generator and counters, its loss history. The store writes at most every ``every_s`` seconds
(atomically: temporary file, then rename), keeps the latest state in memory, and writes that
on :meth:`flush` when the run is interrupted. Resuming restores the state exactly, so the
finished run equals an uninterrupted one with the same seed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from physsim.errors import UserError


class CheckpointStore:
    """Saves and loads one attack state (a dict of tensors, numbers, lists and dicts)."""

    def __init__(self, path: Path, every_s: float = 15.0) -> None:
        self.path = path
        self.every_s = every_s
        self._latest: dict[str, Any] | None = None
        self._written = time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none (a fresh start)."""
        if not self.path.is_file():
            return None
        try:
            state: dict[str, Any] = torch.load(self.path, weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise UserError(f"cannot read checkpoint ({type(exc).__name__})",
                            str(self.path)) from None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Remember ``state``; write it if the last write is ``every_s`` seconds old."""
        self._latest = state
        if time.monotonic() - self._written >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Write the latest state now (on interruption, before exiting)."""
        if self._latest is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(self._latest, tmp)
        os.replace(tmp, self.path)
        self._written = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def objective_state(objective: Any) -> dict[str, Any]:
    """What an attack must save of its objective: the EOT generator and the counters."""
    state = {k: getattr(objective, k) for k in ("forwards", "backwards", "queries")}
    gen = getattr(objective, "generator", None)
    if gen is not None:
        state["generator"] = gen.get_state()
    return state


def restore_objective(objective: Any, state: dict[str, Any]) -> None:
    """The inverse of :func:`objective_state`."""
    for k in ("forwards", "backwards", "queries"):
        setattr(objective, k, state[k])
    if "generator" in state:
        objective.generator.set_state(state["generator"])
