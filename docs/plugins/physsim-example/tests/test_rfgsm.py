"""``rfgsm`` keeps physsim's attack contract, is FGSM when alpha is 0, and fools a toy model."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
import torch
import torch.nn.functional as F
from physsim.attack import AttackResult, Budget, Goal
from physsim.errors import UserError
from physsim.objective import ClassifierObjective
from physsim.testing import AttackContract, linear_toy_classifier, toy_images

import physsim_example
from physsim_example import RFGSM


class TestRFGSM(AttackContract):
    """Budget, [0, 1], mask, seed, unknown options and unsupported norms (physsim's checks)."""

    attack_class = RFGSM


def _attack(
    alpha: float, eps: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, AttackResult]:
    model = linear_toy_classifier()
    x0 = toy_images(16)
    labels = model(x0).argmax(1)
    objective = ClassifierObjective(model, model.num_classes)
    result = RFGSM({"alpha": alpha}).run(
        objective, x0, Goal("untargeted", labels), Budget(eps=eps),
        generator=torch.Generator().manual_seed(seed),
    )
    return x0, labels, result


def test_lowers_accuracy_on_the_toy_classifier() -> None:
    model = linear_toy_classifier()
    _, labels, result = _attack(alpha=0.5, eps=0.1)
    accuracy = (model(result.x_adv).argmax(1) == labels).float().mean().item()
    # the labels are the clean predictions, so the clean accuracy is 1
    assert accuracy < 0.5
    assert result.backwards == 1


def test_alpha_zero_is_fgsm() -> None:
    model = linear_toy_classifier()
    x0, labels, result = _attack(alpha=0.0, eps=0.05)
    x = x0.clone().requires_grad_(True)
    F.cross_entropy(model(x), labels, reduction="sum").backward()
    assert x.grad is not None
    expected = (x0 + 0.05 * x.grad.sign()).clamp(0, 1)
    torch.testing.assert_close(result.x_adv, expected)


def test_random_step_depends_on_the_seed() -> None:
    _, _, first = _attack(alpha=0.5, eps=0.1, seed=1)
    _, _, second = _attack(alpha=0.5, eps=0.1, seed=2)
    assert not torch.equal(first.x_adv, second.x_adv)


def test_rejects_alpha_of_one() -> None:
    with pytest.raises(UserError, match="alpha"):
        RFGSM({"alpha": 1.0})


def test_hook_registers_rfgsm() -> None:
    registered: list[object] = []
    physsim_example.register_attacks(register=registered.append)
    assert registered == [RFGSM]


def test_physsim_lists_it_once_installed() -> None:
    try:
        version("physsim-example")
    except PackageNotFoundError:
        pytest.skip("physsim-example is not installed (pip install docs/plugins/physsim-example)")
    from physsim.plugins import entries

    found = [(e.obj, e.plugin) for e in entries("attack") if e.name == "rfgsm"]
    assert found == [(RFGSM, "example")]
