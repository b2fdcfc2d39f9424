"""Shared toy problems for the attack tests: linear classifiers with closed-form optima."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from physsim.attack import Attack, AttackResult, Budget, Goal
from physsim.classifier import Classifier
from physsim.objective import ClassifierObjective
from physsim.plugins import get_attacks
from physsim.testing.toy import linear_minimal_norm, linear_toy_classifier, toy_images


@dataclass
class Case:
    """A linear toy model and inputs whose minimal perturbations are comfortably non-zero."""

    model: Classifier
    x0: torch.Tensor
    labels: torch.Tensor

    @property
    def classes(self) -> int:
        return self.model.num_classes

    def objective(self, **kwargs: object) -> ClassifierObjective:
        return ClassifierObjective(self.model, self.classes, **kwargs)  # type: ignore[arg-type]

    def goal(self, mode: str = "untargeted") -> Goal:
        targets = (self.labels + 1) % self.classes if mode == "targeted" else None
        return Goal(mode, self.labels, targets)  # type: ignore[arg-type]

    def optimum(self, norm: str, mode: str = "untargeted") -> torch.Tensor:
        targets = self.goal(mode).targets if mode != "untargeted" else None
        return linear_minimal_norm(self.model, self.x0, norm, targets)

    def run(self, name: str, budget: Budget, mode: str = "untargeted", seed: int = 0,
            options: dict | None = None, **kwargs: object) -> AttackResult:
        attack: Attack = get_attacks()[name](options or {})
        return attack.run(kwargs.pop("objective", None) or self.objective(), self.x0,
                          self.goal(mode), budget, generator=torch.Generator().manual_seed(seed),
                          **kwargs)  # type: ignore[arg-type]


def make_case(classes: int, n: int = 6) -> Case:
    """``n`` toy images whose minimal L2 perturbation lies in [0.15, 0.6]: far from zero (so
    ratios to the optimum are meaningful) and small next to the [0.2, 0.8] pixel range (so the
    [0, 1] box does not bind)."""
    model = linear_toy_classifier(classes)
    pool = toy_images(64)
    opt = linear_minimal_norm(model, pool, "l2")
    x0 = pool[(opt > 0.15) & (opt < 0.6)][:n]
    return Case(model, x0, model(x0).argmax(1))


@pytest.fixture(scope="session")
def binary() -> Case:
    return make_case(2)


@pytest.fixture(scope="session")
def multiclass() -> Case:
    return make_case(3)


def linear_minimal_pixels(model: Classifier, x: torch.Tensor) -> torch.Tensor:
    """(B,) the fewest pixels (all channels free in [0, 1]) that flip an affine classifier.

    For class j the best change of pixel p raises ``f_j - f_i`` by
    ``sum_c max(d_c (1 - x_c), -d_c x_c)`` with ``d = w_j - w_i``; pixels add up, so the
    minimum is the shortest prefix of the sorted gains that covers the gap, minimised over j.
    """
    with torch.no_grad():
        logits = model(x)
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0], x[0])
    c = x.shape[1]
    pred = logits.argmax(1)
    w = jac.view(logits.shape[1], c, -1)  # (C, c, hw)
    d = w.unsqueeze(0) - w[pred].unsqueeze(1)  # (B, C, c, hw)
    xs = x.flatten(2).unsqueeze(1)  # (B, 1, c, hw)
    gain = torch.maximum(d * (1 - xs), -d * xs).sum(2)  # (B, C, hw)
    cover = gain.sort(2, descending=True).values.cumsum(2)
    gap = (logits.gather(1, pred.view(-1, 1)) - logits).unsqueeze(2)
    k = (cover < gap).sum(2) + 1  # (B, C)
    k = k.scatter(1, pred.view(-1, 1), 10**9)
    return k.amin(1)
