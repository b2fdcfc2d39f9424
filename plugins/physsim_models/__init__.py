"""physsim_models: bring your own model.

Two classifiers load models physsim did not train: ``torchscript`` (any exported TorchScript
archive) and ``state_dict`` (tensors for one of the architectures physsim knows by name, see
:mod:`physsim_models.architectures`). The module :mod:`physsim_models.weights` also holds the
checked-weights loader the shipped sign and digit classifiers use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from physsim.hookspecs import hookimpl


@hookimpl
def register_classifiers(register: Callable[[Any], None]) -> None:
    from physsim_models.classifiers import StateDictClassifier, TorchScriptClassifier

    register(TorchScriptClassifier)
    register(StateDictClassifier)
