"""physsim_signs: the traffic-sign domain pack.

Procedurally rendered US (MUTCD-like) signs registered as physical objects (``stop_sign``,
``yield_sign``, ``speed_limit_45`` ...), a dataset generator that photographs them through the
EOT engine, and two recognisers trained on it with shipped weights (``lisa_cnn``,
``sign_resnet``). Registration imports classes only; textures render and weights load on use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from physsim.hookspecs import hookimpl


@hookimpl
def register_objects(register: Callable[[Any], None]) -> None:
    from physsim_signs.objects import SIGN_OBJECTS

    for cls in SIGN_OBJECTS:
        register(cls)


@hookimpl
def register_classifiers(register: Callable[[Any], None]) -> None:
    from physsim_signs.classifiers import LisaCNNClassifier, SignResNetClassifier

    register(LisaCNNClassifier)
    register(SignResNetClassifier)
