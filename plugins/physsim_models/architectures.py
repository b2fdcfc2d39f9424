"""The network architectures physsim knows by name, for weights saved as plain state dicts.

A state dict holds tensors, not code, so loading one needs the architecture it belongs to.
This table maps each name to the module that defines it; modules are imported only when a
name is used, so the table costs nothing at plugin registration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from torch import nn

from physsim.errors import UnknownNameError


@dataclass(frozen=True)
class Architecture:
    """A network that can be rebuilt from its name and class count.

    Attributes:
        name: the name used in metadata files and options (``lisa_cnn``).
        target: ``module:attribute`` of an ``nn.Module`` class taking ``num_classes``.
        input_size: the (h, w) it was designed for.
    """

    name: str
    target: str
    input_size: tuple[int, int]

    def build(self, num_classes: int) -> nn.Module:
        module, attr = self.target.split(":")
        factory = getattr(importlib.import_module(module), attr)
        net: nn.Module = factory(num_classes=num_classes)
        return net


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("lisa_cnn", "physsim_signs.models:LisaCNN", (32, 32)),
        Architecture("sign_resnet", "physsim_signs.models:SignResNet", (64, 64)),
        Architecture("digits_cnn", "physsim_digits.model:DigitsCNN", (8, 8)),
    )
}


def get_architecture(name: str, where: str | None = None) -> Architecture:
    """The architecture called ``name``; an unknown name lists the known ones."""
    if name not in ARCHITECTURES:
        raise UnknownNameError("architecture", name, list(ARCHITECTURES), where)
    return ARCHITECTURES[name]
