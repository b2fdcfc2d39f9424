"""The contract every attack keeps."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
import torch

from physsim.attack import MODES, NORMS, Attack, AttackResult, Budget, Goal
from physsim.classifier import Classifier
from physsim.errors import UserError
from physsim.objective import ClassifierObjective
from physsim.testing._common import _options_reject_unknown_keys
from physsim.testing.toy import ToyRenderer, linear_toy_classifier, toy_images


class AttackContract:
    """An attack keeps its budget and [0, 1], respects its mask, is deterministic under a seed,
    works under EOT (S > 1 samples), reports well-formed counts and history, honours its
    callback, and rejects bad options, unsupported norms and unsupported modes with
    :class:`UserError`.

    Set ``attack_class``; optionally ``options``, ``budget`` and ``mode``. The runs use the
    linear toy classifier over four 3x8x8 images, so each test takes well under a second for
    a cheap attack; keep ``budget.steps`` and expensive options small.
    """

    attack_class: ClassVar[type[Attack]]
    options: ClassVar[dict[str, Any]] = {}
    budget: ClassVar[Budget | None] = None
    mode: ClassVar[str] = "untargeted"
    #: slack on the norm check, for attacks whose projection is numerically approximate
    norm_tolerance: ClassVar[float] = 1e-5
    #: EOT samples drawn per objective call in the EOT test
    eot_samples: ClassVar[int] = 3

    def _budget(self) -> Budget:
        if self.budget is not None:
            return self.budget
        norm = self.attack_class.norms[0]
        return Budget(norm=norm, eps=2.0 if norm == "l0" else 0.1, steps=5)  # type: ignore[arg-type]

    def _goal(self, model: Classifier, x0: torch.Tensor, mode: str | None = None) -> Goal:
        mode = mode or self.mode
        labels = model(x0).argmax(1)
        targets = (labels + 1) % model.num_classes if mode == "targeted" else None
        return Goal(mode, labels, targets)  # type: ignore[arg-type]

    def _run(self, seed: int = 0, mask: torch.Tensor | None = None, *, eot: bool = False,
             **kwargs: Any) -> tuple[torch.Tensor, AttackResult]:
        model = linear_toy_classifier()
        x0 = toy_images()
        renderer = ToyRenderer() if eot else None
        objective = ClassifierObjective(model, model.num_classes, renderer=renderer,
                                        samples=self.eot_samples,
                                        generator=torch.Generator().manual_seed(seed + 100))
        attack = self.attack_class(self.options)
        gen = torch.Generator().manual_seed(seed)
        result = attack.run(objective, x0, self._goal(model, x0), self._budget(), mask=mask,
                            generator=gen, **kwargs)
        return x0, result

    def _check_bounds(self, x0: torch.Tensor, result: AttackResult) -> None:
        budget = self._budget()
        assert result.x_adv.shape == x0.shape
        assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
        torch.testing.assert_close(result.perturbation, result.x_adv - x0)
        if not math.isinf(budget.eps):
            norms = result.norms(budget.norm)
            assert (norms <= budget.eps * (1 + self.norm_tolerance) + 1e-6).all(), norms
        assert result.success.dtype == torch.bool and result.success.shape == (x0.shape[0],)

    def test_has_name_and_kind(self) -> None:
        assert self.attack_class.name
        assert self.attack_class.kind == "attack"
        assert set(self.attack_class.norms) <= set(NORMS)
        assert set(self.attack_class.modes) <= set(MODES)

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.attack_class, self.options)

    def test_keeps_budget_and_range(self) -> None:
        x0, result = self._run()
        self._check_bounds(x0, result)
        assert result.forwards + result.queries > 0

    def test_keeps_budget_with_early_stop(self) -> None:
        x0, result = self._run(early_stop=True)
        self._check_bounds(x0, result)

    def test_works_under_eot(self) -> None:
        x0, result = self._run(eot=True)
        self._check_bounds(x0, result)

    def test_counts_and_history(self) -> None:
        _, result = self._run()
        assert all(isinstance(n, int) and n >= 0
                   for n in (result.forwards, result.backwards, result.queries))
        assert isinstance(result.loss_history, list)
        assert all(isinstance(v, float) for v in result.loss_history)
        if self.attack_class.black_box:
            assert result.backwards == 0, "a black-box attack must not use gradients"
            assert result.queries > 0

    def test_counts_only_its_own_use_of_the_objective(self) -> None:
        """Counts are the passes the attack made: an objective used before (here, by a first
        run of the same attack) does not add its earlier passes to them."""
        model = linear_toy_classifier()
        x0 = toy_images()
        objective = ClassifierObjective(model, model.num_classes)
        results = [self.attack_class(self.options).run(
            objective, x0, self._goal(model, x0), self._budget(), mask=None,
            generator=torch.Generator().manual_seed(0)) for _ in range(2)]
        first, second = ((r.forwards, r.backwards, r.queries) for r in results)
        assert second == first, "report what this run used, not the objective's totals"

    def test_respects_mask(self) -> None:
        mask = torch.zeros(1, 1, 8, 8)
        mask[..., 2:6, 2:6] = 1
        x0, result = self._run(mask=mask)
        outside = (1 - mask).expand_as(x0).bool()
        assert torch.equal(result.x_adv[outside], x0[outside])

    def test_deterministic_under_seed(self) -> None:
        _, a = self._run(seed=3)
        _, b = self._run(seed=3)
        assert torch.equal(a.x_adv, b.x_adv)

    def test_callback_is_called_and_can_stop(self) -> None:
        calls: list[int] = []
        self._run(callback=lambda step, x, loss: calls.append(step))
        assert 1 <= len(calls) <= self.attack_class(self.options).total_steps(self._budget())
        stopped: list[int] = []

        def stop(step: int, x: torch.Tensor, loss: torch.Tensor) -> bool:
            stopped.append(step)
            return True

        self._run(callback=stop)
        assert len(stopped) == 1

    def test_rejects_unsupported_norm(self) -> None:
        unsupported = [n for n in NORMS if n not in self.attack_class.norms]
        if not unsupported:
            pytest.skip("the attack supports every norm")
        model = linear_toy_classifier()
        x0 = toy_images()
        with pytest.raises(UserError, match="not supported"):
            self.attack_class(self.options).run(
                ClassifierObjective(model, model.num_classes), x0, self._goal(model, x0),
                Budget(norm=unsupported[0], eps=2.0, steps=2),  # type: ignore[arg-type]
            )

    def test_rejects_unsupported_mode(self) -> None:
        unsupported = [m for m in MODES if m not in self.attack_class.modes]
        if not unsupported:
            pytest.skip("the attack supports every mode")
        model = linear_toy_classifier()
        x0 = toy_images()
        with pytest.raises(UserError, match="not supported"):
            self.attack_class(self.options).run(
                ClassifierObjective(model, model.num_classes), x0,
                self._goal(model, x0, unsupported[0]), self._budget(),
            )
