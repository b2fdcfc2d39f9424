"""Bring-your-own-model classifiers: a TorchScript file or a state dict of a known architecture.

Neither path unpickles arbitrary objects: TorchScript archives load with ``torch.jit.load`` and
state dicts with ``torch.load(weights_only=True)``. Each model is probed once with a
(1, 3, h, w) batch when it loads, so a model that wants other channels or gives a different
number of logits than there are labels fails at load time with one line, not mid-attack.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, PositiveInt, model_validator
from torch import nn

from physsim.classifier import Classifier
from physsim.errors import UserError
from physsim.options import Options
from physsim.options import Options as OptionsModel
from physsim_models.architectures import get_architecture
from physsim_models.weights import load_state_dict

Triple = tuple[float, float, float]


class UserModelOptions(Options):
    """What every user model needs besides its file.

    Attributes:
        path: the model file.
        labels: class names in logit order; or give ``labels_file`` instead.
        labels_file: a text file with one label per line, or a JSON list.
        input_size: (h, w) the network expects; inputs of other sizes are resized.
        mean: per-channel mean subtracted after resizing (images are RGB in [0, 1]).
        std: per-channel standard deviation divided after subtracting the mean.
    """

    path: Path
    labels: list[str] | None = Field(None, min_length=1)
    labels_file: Path | None = None
    input_size: tuple[PositiveInt, PositiveInt] | None = None
    mean: Triple = (0.0, 0.0, 0.0)
    std: Triple = (1.0, 1.0, 1.0)

    @model_validator(mode="after")
    def _check(self) -> UserModelOptions:
        if (self.labels is None) == (self.labels_file is None):
            raise ValueError("give exactly one of labels and labels_file")
        if min(self.std) <= 0:
            raise ValueError("std must be > 0 in every channel")
        return self


def _read_labels(opts: UserModelOptions, where: str) -> list[str]:
    if opts.labels is not None:
        return list(opts.labels)
    path = opts.labels_file
    assert path is not None  # the validator guarantees one of the two
    if not path.is_file():
        raise UserError(f"labels file not found: {path}", f"{where}.labels_file")
    text = path.read_text(encoding="utf-8")
    try:
        labels = json.loads(text) if path.suffix == ".json" else None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}", f"{where}.labels_file") from None
    if labels is None:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels or not isinstance(labels, list):
        raise UserError(f"{path} holds no labels", f"{where}.labels_file")
    return [str(label) for label in labels]


def _probe(net: nn.Module, input_size: tuple[int, int], n_labels: int, where: str) -> None:
    """Run one normalised-zero batch to catch wrong channels or class counts at load time."""
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, *input_size))
    except Exception as exc:  # the model's own error: wrong channels, sizes or dtypes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"the model does not accept (1, 3, {input_size[0]}, {input_size[1]}) "
                        f"RGB input: {first}", where) from None
    if not isinstance(out, torch.Tensor) or out.shape != (1, n_labels):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(f"the model returns {shape} for one image, expected (1, {n_labels}) "
                        f"logits for the {n_labels} labels", where)


class TorchScriptClassifier(Classifier):
    """Any classifier exported with ``torch.jit.script`` or ``torch.jit.trace``."""

    name = "torchscript"
    Options = UserModelOptions

    @classmethod
    def create(cls, options: Mapping[str, Any] | OptionsModel | None = None
               ) -> TorchScriptClassifier:
        opts: UserModelOptions = cls.parse(options)
        where = f"classifier {cls.name!r} options"
        if opts.input_size is None:
            raise UserError("input_size is required for a TorchScript model", where)
        labels = _read_labels(opts, where)
        if not opts.path.is_file():
            raise UserError(f"file not found: {opts.path}", f"{where}.path")
        try:
            with warnings.catch_warnings():
                # torch >= 2.9 deprecates TorchScript in favour of torch.export, but it is still
                # the one portable format most exported models use; loading stays supported.
                warnings.filterwarnings("ignore", ".*torch.jit.load.* is deprecated",
                                        DeprecationWarning)
                net = torch.jit.load(str(opts.path), map_location="cpu")
        except Exception as exc:  # torch raises RuntimeError or ValueError for foreign files
            raise UserError(f"{opts.path} is not a TorchScript archive ({type(exc).__name__})",
                            f"{where}.path") from None
        net.eval()
        _probe(net, opts.input_size, len(labels), f"{where}.path ({opts.path})")
        return cls(net, labels, opts.input_size, opts.mean, opts.std)


class StateDictOptions(UserModelOptions):
    """Options of ``state_dict``: the common ones plus the architecture to rebuild.

    Attributes:
        architecture: a known architecture (``lisa_cnn``, ``sign_resnet``, ``digits_cnn``).
        sha256: when given, the file's hash must match.
    """

    architecture: str
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class StateDictClassifier(Classifier):
    """A state dict (tensors only) for one of physsim's known architectures."""

    name = "state_dict"
    Options = StateDictOptions

    @classmethod
    def create(cls, options: Mapping[str, Any] | OptionsModel | None = None
               ) -> StateDictClassifier:
        opts: StateDictOptions = cls.parse(options)
        where = f"classifier {cls.name!r} options"
        arch = get_architecture(opts.architecture, f"{where}.architecture")
        labels = _read_labels(opts, where)
        if not opts.path.is_file():
            raise UserError(f"file not found: {opts.path}", f"{where}.path")
        net = arch.build(len(labels))
        state = load_state_dict(opts.path, opts.sha256)
        try:
            net.load_state_dict(state)
        except RuntimeError:
            raise UserError(f"the tensors in {opts.path} do not fit architecture {arch.name!r} "
                            f"with {len(labels)} classes", f"{where}.path") from None
        net.eval()
        size = opts.input_size or arch.input_size
        _probe(net, size, len(labels), f"{where}.path ({opts.path})")
        return cls(net, labels, size, opts.mean, opts.std)
