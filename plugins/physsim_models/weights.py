"""Checked weight files: a ``.pt`` state dict beside a ``.json`` metadata file with its sha256.

The shipped classifiers and the ``state_dict`` plugin classifier load weights only with
``torch.load(weights_only=True)`` (tensors, never arbitrary pickled objects) and only after the
file's sha256 matches the one recorded in the metadata, so a truncated download or a swapped
file fails with one line naming it instead of producing a silently wrong model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from physsim.classifier import Classifier
from physsim.errors import UserError
from physsim_models.architectures import get_architecture

C = TypeVar("C", bound=Classifier)

#: metadata keys every shipped weight file records
REQUIRED_KEYS = ("architecture", "classes", "input_size", "mean", "std", "sha256")


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata_path(weights: Path) -> Path:
    """Where the metadata of ``weights`` lives: the same stem with ``.json``."""
    return weights.with_suffix(".json")


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check a metadata file; missing, unreadable or incomplete -> :class:`UserError`."""
    if not path.is_file():
        raise UserError("metadata file not found (expected beside the weights)", str(path))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read metadata: {exc}", str(path)) from None
    if not isinstance(meta, dict):
        raise UserError("metadata must be a JSON object", str(path))
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise UserError(f"metadata lacks {', '.join(missing)}", str(path))
    return meta


def load_state_dict(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict with ``weights_only=True``, first checking its sha256 if given.

    Raises:
        UserError: the file is missing, its hash differs, or it is not a tensor state dict.
    """
    if not path.is_file():
        raise UserError("weights file not found", str(path))
    if sha256 is not None and file_sha256(path) != sha256:
        raise UserError(
            "sha256 mismatch: the file is corrupt or not the one its metadata describes",
            str(path),
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise UserError(f"cannot load weights: {type(exc).__name__}", str(path)) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise UserError("expected a state dict of tensors", str(path))
    return dict(state)


def save_weights(state: Mapping[str, torch.Tensor], meta: Mapping[str, Any],
                 path: Path) -> dict[str, Any]:
    """Write ``path`` (.pt) and its metadata (.json) with the sha256 filled in.

    Returns:
        The metadata as written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, path)
    full = {**meta, "sha256": file_sha256(path)}
    metadata_path(path).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return full


def load_classifier(cls: type[C], weights: Path, architecture: str | None = None) -> C:
    """Build ``cls`` from a checked weight file and its metadata.

    Args:
        cls: the :class:`Classifier` subclass to instantiate.
        weights: the ``.pt`` file; its ``.json`` metadata must sit beside it.
        architecture: when given, the metadata must name this architecture.
    """
    meta_file = metadata_path(weights)
    meta = read_metadata(meta_file)
    arch = get_architecture(str(meta["architecture"]), f"{meta_file}: architecture")
    if architecture is not None and arch.name != architecture:
        raise UserError(f"weights are for {arch.name!r}, expected {architecture!r}",
                        str(meta_file))
    net = arch.build(len(meta["classes"]))
    state = load_state_dict(weights, str(meta["sha256"]))
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"the tensors do not fit architecture {arch.name!r}",
                        str(weights)) from None
    h, w = meta["input_size"]
    return cls(net, meta["classes"], (h, w), meta["mean"], meta["std"])
