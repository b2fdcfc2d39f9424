"""The contract every attack keeps."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from physsim.attack import Attack, Budget, Goal
from physsim.errors import UserError
from physsim.objective import ClassifierObjective
from physsim.testing._common import _options_reject_unknown_keys
from physsim.testing.toy import linear_toy_classifier, toy_images


class AttackContract:
    """An attack keeps its budget and [0, 1], respects its mask, is deterministic under a seed,
    and rejects bad options and unsupported norms with :class:`UserError`.

    Set ``attack_class``; optionally ``options``, ``budget`` and ``mode``.
    """

    attack_class: ClassVar[type[Attack]]
    options: ClassVar[dict[str, Any]] = {}
    budget: ClassVar[Budget | None] = None
    mode: ClassVar[str] = "untargeted"
    #: slack on the norm check, for attacks whose projection is numerically approximate
    norm_tolerance: ClassVar[float] = 1e-5

    def _budget(self) -> Budget:
        if self.budget is not None:
            return self.budget
        return Budget(norm=self.attack_class.norms[0], eps=0.1, steps=5)  # type: ignore[arg-type]

    def _run(self, seed: int = 0, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        model = linear_toy_classifier()
        x0 = toy_images()
        labels = model(x0).argmax(1)
        targets = (labels + 1) % model.num_classes if self.mode == "targeted" else None
        goal = Goal(self.mode, labels, targets)  # type: ignore[arg-type]
        objective = ClassifierObjective(model, model.num_classes)
        attack = self.attack_class(self.options)
        gen = torch.Generator().manual_seed(seed)
        return x0, attack.run(objective, x0, goal, self._budget(), mask=mask, generator=gen)

    def test_has_name_and_kind(self) -> None:
        assert self.attack_class.name
        assert self.attack_class.kind == "attack"
        assert set(self.attack_class.norms) <= {"linf", "l2", "l1", "l0"}

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.attack_class, self.options)

    def test_keeps_budget_and_range(self) -> None:
        x0, result = self._run()
        budget = self._budget()
        assert result.x_adv.shape == x0.shape
        assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
        torch.testing.assert_close(result.perturbation, result.x_adv - x0)
        if budget.eps != float("inf"):
            norms = result.norms(budget.norm)
            assert (norms <= budget.eps * (1 + self.norm_tolerance) + 1e-6).all(), norms
        assert result.success.dtype == torch.bool and result.success.shape == (x0.shape[0],)
        assert result.forwards + result.queries > 0

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

    def test_rejects_unsupported_norm(self) -> None:
        unsupported = [n for n in ("linf", "l2", "l1", "l0") if n not in self.attack_class.norms]
        if not unsupported:
            pytest.skip("the attack supports every norm")
        model = linear_toy_classifier()
        x0 = toy_images()
        goal = Goal("untargeted", model(x0).argmax(1))
        with pytest.raises(UserError, match="not supported"):
            self.attack_class(self.options).run(
                ClassifierObjective(model, model.num_classes), x0, goal,
                Budget(norm=unsupported[0], eps=0.1, steps=2),  # type: ignore[arg-type]
            )
