"""A throwaway plugin for runner and scene tests: a linear classifier with held-out data.

Registered through the same plugin manager third-party plugins use, so the tests exercise the
real lookup path without loading trained weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from physsim.classifier import Classifier
from physsim.hookspecs import hookimpl
from physsim.objects import ObjectTexture, PhysicalObject
from physsim.plugins import load_plugins, pm
from physsim.testing import linear_toy_classifier, toy_images


class ToyLinear(Classifier):
    """The linear toy classifier over 3x8x8 images; held-out data are labelled by the model."""

    name = "toy_linear"

    @classmethod
    def create(cls, options: Any = None) -> Classifier:
        cls.parse(options)
        return linear_toy_classifier()

    @classmethod
    def heldout(cls, n: int, seed: int, device: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
        images = toy_images(n, seed=seed).to(device)
        with torch.no_grad():
            labels = linear_toy_classifier().to(device)(images).argmax(1)
        return images, labels, None


class ToyDisc(PhysicalObject):
    """A 300 mm disc, half red half blue, 64 px: a cheap object for runner tests."""

    name = "toy_disc"
    label = "class0"
    size_mm = (300.0, 300.0)

    def load(self) -> ObjectTexture:
        c = (torch.arange(64) + 0.5) / 32 - 1
        alpha = ((c.view(-1, 1) ** 2 + c.view(1, -1) ** 2) <= 1).float()
        rgb = torch.zeros(3, 64, 64)
        rgb[0, :, :32], rgb[2, :, 32:] = 0.8, 0.7
        return ObjectTexture(torch.cat([rgb, alpha[None]]), alpha[None], self.size_mm,
                             self.label, self.name)


class ToySquare(PhysicalObject):
    """A 300 mm opaque square, green, 64 px: a face of a different share of its square."""

    name = "toy_square"
    label = "class1"
    size_mm = (300.0, 300.0)

    def load(self) -> ObjectTexture:
        rgb = torch.zeros(3, 64, 64)
        rgb[1] = 0.6
        alpha = torch.ones(1, 64, 64)
        return ObjectTexture(torch.cat([rgb, alpha]), alpha, self.size_mm, self.label, self.name)


class _Plugin:
    @hookimpl
    def register_classifiers(self, register: Callable[[type[Classifier]], None]) -> None:
        register(ToyLinear)

    @hookimpl
    def register_objects(self, register: Callable[[type[PhysicalObject]], None]) -> None:
        register(ToyDisc)
        register(ToySquare)


@contextmanager
def toy_plugin() -> Iterator[None]:
    load_plugins()
    pm.register(_Plugin(), name="toy_plugin")
    try:
        yield
    finally:
        pm.unregister(name="toy_plugin")
