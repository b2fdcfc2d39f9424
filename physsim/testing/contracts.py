"""The contract every component of a kind keeps, as pytest classes to subclass."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
import torch

from physsim.attack import Attack, Budget, Goal
from physsim.classifier import Classifier
from physsim.defense import Defense, Detector, InputTransform, ModelTransform
from physsim.eot.base import Transform, params_from_json, params_to_json
from physsim.errors import UserError
from physsim.objective import ClassifierObjective
from physsim.testing.toy import linear_toy_classifier, toy_images


def _options_reject_unknown_keys(cls: Any, options: dict[str, Any]) -> None:
    with pytest.raises(UserError, match="physsim_no_such_option"):
        cls({**options, "physsim_no_such_option": 1})


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


class TransformContract:
    """A transform samples JSON-serialisable, replayable params from a seed, and applies them
    as a pure, shape- and range-preserving, differentiable function.

    Set ``transform_class``; optionally ``options``, ``image_size`` and ``gradcheck``.
    """

    transform_class: ClassVar[type[Transform]]
    options: ClassVar[dict[str, Any]] = {}
    image_size: ClassVar[int] = 16
    #: run torch.autograd.gradcheck in float64 (off for transforms with discrete steps)
    gradcheck: ClassVar[bool] = True

    def _images(self, n: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        return torch.rand(n, 3, self.image_size, self.image_size, generator=g, dtype=dtype)

    def _params(self, n: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
        t = self.transform_class(self.options)
        return t.sample(n, torch.Generator().manual_seed(seed))

    def test_has_name_and_kind(self) -> None:
        assert self.transform_class.name
        assert self.transform_class.kind == "transform"

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.transform_class, self.options)

    def test_same_seed_same_params(self) -> None:
        a, b = self._params(seed=5), self._params(seed=5)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape[0] == 3, k
            assert torch.equal(a[k], b[k]), k

    def test_params_replay_from_json(self) -> None:
        t = self.transform_class(self.options)
        params = self._params()
        replayed = params_from_json(json.loads(json.dumps(params_to_json(params))))
        x = self._images()
        torch.testing.assert_close(t.apply(x, params), t.apply(x, replayed))

    def test_shape_and_range(self) -> None:
        t = self.transform_class(self.options)
        x = self._images()
        y = t.apply(x, self._params())
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0 and y.max() <= 1

    def test_differentiable(self) -> None:
        t = self.transform_class(self.options)
        x = self._images().requires_grad_(True)
        t.apply(x, self._params()).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    def test_gradcheck(self) -> None:
        if not self.gradcheck:
            pytest.skip("transform has discrete steps; gradcheck disabled")
        t = self.transform_class(self.options)
        params = {k: v.double() if v.is_floating_point() else v for k, v in self._params(1).items()}
        g = torch.Generator().manual_seed(1)
        # keep away from [0, 1] edges where a clamp has no derivative
        x = (0.25 + 0.5 * torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64))
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda im: t.apply(im, params), (x,), eps=1e-6,
                                        atol=1e-4)


class ClassifierContract:
    """A classifier takes (B, 3, H, W) in [0, 1], exposes labels and input size, is in eval mode
    with frozen parameters, lets gradients reach its input, and rejects a wrong shape.

    Set ``classifier_class``; optionally ``options``.
    """

    classifier_class: ClassVar[type[Classifier]]
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(scope="class")
    def model(self) -> Classifier:
        return self.classifier_class.create(self.options)

    def _images(self, model: Classifier, n: int = 2) -> torch.Tensor:
        h, w = model.input_size
        return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(0))

    def test_has_name_and_kind(self) -> None:
        assert self.classifier_class.name
        assert self.classifier_class.kind == "classifier"

    def test_options_reject_unknown_keys(self) -> None:
        with pytest.raises(UserError, match="physsim_no_such_option"):
            self.classifier_class.create({**self.options, "physsim_no_such_option": 1})

    def test_outputs_logits_for_labels(self, model: Classifier) -> None:
        out = model(self._images(model))
        assert out.shape == (2, model.num_classes) == (2, len(model.labels))
        assert torch.isfinite(out).all()

    def test_eval_mode_and_frozen(self, model: Classifier) -> None:
        assert not model.training
        model.train()
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())

    def test_gradient_reaches_input(self, model: Classifier) -> None:
        x = self._images(model).requires_grad_(True)
        model(x).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0

    def test_resizes_other_sizes(self, model: Classifier) -> None:
        h, w = model.input_size
        x = torch.rand(1, 3, h * 2, w * 2, generator=torch.Generator().manual_seed(1))
        assert model(x).shape == (1, model.num_classes)

    def test_rejects_wrong_channels(self, model: Classifier) -> None:
        h, w = model.input_size
        with pytest.raises(UserError, match="3, H, W"):
            model(torch.rand(1, 1, h, w))

    def test_deterministic(self, model: Classifier) -> None:
        x = self._images(model)
        assert torch.equal(model(x), model(x))


class DefenseContract:
    """A defense keeps shapes and ranges; an input transformation has a differentiable
    approximation for adaptive attacks; a detector calibrates to its false-positive rate and
    refuses to run uncalibrated; a model transformation returns a classifier.

    Set ``defense_class``; optionally ``options`` and ``classifier`` (a zero-argument factory;
    the linear toy classifier over 3x8x8 images by default) and ``images``.
    """

    defense_class: ClassVar[type[Defense]]
    options: ClassVar[dict[str, Any]] = {}

    def make_classifier(self) -> Classifier:
        return linear_toy_classifier()

    def make_images(self, n: int = 40) -> torch.Tensor:
        return toy_images(n)

    def test_has_name_and_kind(self) -> None:
        assert self.defense_class.name
        assert self.defense_class.kind == "defense"
        assert self.defense_class.defense_kind in ("input_transform", "detector",
                                                   "model_transform")

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.defense_class, self.options)

    def test_behaviour(self) -> None:
        defense = self.defense_class(self.options)
        clf = self.make_classifier()
        x = self.make_images()
        if isinstance(defense, InputTransform):
            y = defense.transform(x)
            assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
            xg = x.clone().requires_grad_(True)
            clf(defense.approximate(xg)).sum().backward()
            assert xg.grad is not None and torch.isfinite(xg.grad).all()
            assert xg.grad.abs().sum() > 0
        elif isinstance(defense, Detector):
            with pytest.raises(UserError, match="calibrat"):
                defense.detect(x, clf)
            defense.calibrate(x, clf, fpr=0.1)
            flagged = defense.detect(x, clf).float().mean().item()
            assert flagged <= 0.1 + 1.0 / len(x)
        elif isinstance(defense, ModelTransform):
            out = defense.apply(clf)
            assert isinstance(out, Classifier)
            assert out(x[:2]).shape == (2, clf.num_classes)
        else:  # pragma: no cover - a new defense kind must extend this contract
            pytest.fail(f"unknown defense kind {defense.defense_kind!r}")
