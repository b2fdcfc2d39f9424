"""Contract test classes for plugin authors (and the built-ins).

Subclass one in your plugin's tests and fill in the class attributes; pytest collects the
inherited ``test_*`` methods::

    from physsim.testing import AttackContract
    from my_plugin import MyAttack

    class TestMyAttack(AttackContract):
        attack_class = MyAttack
        options = {"restarts": 2}
"""

from physsim.testing.attack import AttackContract
from physsim.testing.classifier import ClassifierContract
from physsim.testing.defense import DefenseContract
from physsim.testing.toy import (
    ToyRenderer,
    linear_minimal_norm,
    linear_toy_classifier,
    toy_images,
)
from physsim.testing.transform import GeometricTransformContract, TransformContract

__all__ = [
    "AttackContract",
    "ClassifierContract",
    "DefenseContract",
    "GeometricTransformContract",
    "ToyRenderer",
    "TransformContract",
    "linear_minimal_norm",
    "linear_toy_classifier",
    "toy_images",
]
