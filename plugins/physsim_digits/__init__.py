"""physsim_digits: the scikit-learn 8×8 handwritten digits and a small CNN trained on them.

Classic attack demonstrations (FGSM and friends on digits) need a victim and data that work
offline; both ship here. Requires the optional extra ``digits`` (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from physsim.hookspecs import hookimpl
from physsim_digits.data import load_digits_split

__all__ = ["load_digits_split"]


@hookimpl
def register_classifiers(register: Callable[[Any], None]) -> None:
    from physsim_digits.classifier import DigitsClassifier

    register(DigitsClassifier)
