"""Attacks against linear toy classifiers whose optimal perturbations are known in closed form.

Fixed-budget attacks must succeed on every input when eps is 1.5x the largest optimum;
minimal-norm attacks must land within 1.25x of each input's optimum. Every result stays in
its budget and in [0, 1].
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import Case, linear_minimal_pixels, make_case

from physsim.attack import AttackResult, Budget
from physsim.testing.toy import linear_toy_classifier, toy_images


def _check(result: AttackResult, case: Case, budget: Budget) -> None:
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    if not math.isinf(budget.eps):
        assert (result.norms(budget.norm) <= budget.eps * (1 + 1e-5) + 1e-6).all()


FIXED = [
    # (attack, norm, classes, mode, steps, options)
    ("fgsm", "linf", 2, "untargeted", 1, {}),
    ("fgsm", "l2", 2, "untargeted", 1, {}),
    ("fgsm", "linf", 2, "targeted", 1, {}),
    ("bim", "linf", 3, "untargeted", 10, {}),
    ("bim", "l2", 3, "untargeted", 10, {}),
    ("bim", "linf", 2, "targeted", 10, {}),
    ("iterative_ll", "linf", 2, "untargeted", 10, {}),
    ("pgd", "linf", 3, "untargeted", 10, {}),
    ("pgd", "l2", 3, "untargeted", 10, {}),
    ("pgd", "l2", 2, "targeted", 10, {"loss": "margin"}),
    ("mifgsm", "linf", 3, "untargeted", 10, {}),
    ("mifgsm", "l2", 3, "untargeted", 10, {}),
    ("goal_vector", "linf", 2, "targeted", 20, {"lam": 0.0}),
    ("square", "linf", 3, "untargeted", 300, {}),
    ("universal", "linf", 2, "untargeted", 10, {}),
    ("universal", "l2", 2, "untargeted", 10, {}),
]


@pytest.mark.parametrize(("name", "norm", "classes", "mode", "steps", "options"), FIXED)
def test_fixed_budget_attack_succeeds_at_one_and_a_half_times_the_optimum(
        name: str, norm: str, classes: int, mode: str, steps: int, options: dict,
        binary: Case, multiclass: Case) -> None:
    case = binary if classes == 2 else multiclass
    eps = 1.5 * float(case.optimum(norm, mode).max())
    budget = Budget(norm, eps, steps)  # type: ignore[arg-type]
    result = case.run(name, budget, mode, options=options)
    _check(result, case, budget)
    assert result.success.all(), result.norms(norm)


def test_square_l2_succeeds_at_three_times_the_optimum(multiclass: Case) -> None:
    # L2 random search fills 192 dimensions far more slowly than L-inf sign search: it is
    # held to 3x the optimum (it meets 1.5x on about two inputs in three)
    budget = Budget("l2", 3 * float(multiclass.optimum("l2").max()), 300)
    result = multiclass.run("square", budget, early_stop=True)
    _check(result, multiclass, budget)
    assert result.success.all() and result.backwards == 0


def test_universal_shares_one_perturbation(binary: Case) -> None:
    # the binary toy inputs all share a class, so one direction fools them all
    assert binary.labels.unique().numel() == 1
    budget = Budget("l2", 1.5 * float(binary.optimum("l2").max()), 10)
    result = binary.run("universal", budget)
    # pixels sit in [0.2, 0.8] and the perturbation is small: no clamping, so it is shared
    assert (result.perturbation.abs().amax() < 0.2).item()
    torch.testing.assert_close(result.perturbation, result.perturbation[:1].expand_as(
        result.perturbation))
    assert result.extras["fooling_rate"] == 1.0


MINIMAL = [
    # (attack, norm, classes, mode, steps, options)
    ("deepfool", "l2", 3, "untargeted", 50, {}),
    ("deepfool", "linf", 3, "untargeted", 50, {}),
    ("deepfool", "l2", 2, "targeted", 50, {}),
    ("cw_l2", "l2", 3, "untargeted", 100, {}),
    ("cw_l2", "l2", 2, "targeted", 100, {"binary_search_steps": 6, "initial_const": 0.1}),
    ("lbfgs", "l2", 2, "targeted", 20, {}),
]


@pytest.mark.parametrize(("name", "norm", "classes", "mode", "steps", "options"), MINIMAL)
def test_minimal_norm_attack_lands_near_the_optimum(
        name: str, norm: str, classes: int, mode: str, steps: int, options: dict,
        binary: Case, multiclass: Case) -> None:
    case = binary if classes == 2 else multiclass
    budget = Budget(norm, float("inf"), steps)  # type: ignore[arg-type]
    result = case.run(name, budget, mode, options=options)
    _check(result, case, budget)
    assert result.success.all()
    ratio = result.norms(norm) / case.optimum(norm, mode)
    # a successful perturbation cannot beat the optimum; a good one is close to it
    assert (ratio >= 1 - 1e-3).all() and (ratio <= 1.25).all(), ratio


@pytest.mark.parametrize("name", ["deepfool", "cw_l2"])
def test_minimal_norm_attack_is_capped_by_a_finite_eps(name: str, multiclass: Case) -> None:
    opt = multiclass.optimum("l2")
    budget = Budget("l2", float(opt.median()), 30)
    result = multiclass.run(name, budget, options={"binary_search_steps": 4}
                            if name == "cw_l2" else {})
    _check(result, multiclass, budget)
    # inputs whose optimum is beyond the cap cannot succeed
    assert not result.success[opt > budget.eps * 1.001].any()


def test_one_pixel_succeeds_with_one_and_a_half_times_the_fewest_pixels() -> None:
    model = linear_toy_classifier(3)
    pool = toy_images(32)
    k = linear_minimal_pixels(model, pool)
    x0 = pool[k <= 2][:6]
    case = Case(model, x0, model(x0).argmax(1))
    eps = math.ceil(1.5 * int(linear_minimal_pixels(model, x0).max()))
    budget = Budget("l0", eps, 100)
    result = case.run("one_pixel", budget, options={"population": 400}, early_stop=True)
    _check(result, case, budget)
    assert result.success.all()
    assert result.backwards == 0 and result.queries > 0


def test_substitute_transfers_to_the_victim() -> None:
    # a transfer attack has no optimality guarantee: ask for most inputs at 5x the optimum
    case = make_case(3, n=8)
    budget = Budget("linf", 5 * float(case.optimum("linf").max()), 10)
    result = case.run("substitute", budget, options={"architecture": "mlp"})
    _check(result, case, budget)
    assert result.success.float().mean() >= 0.75
    assert result.backwards == 0
    # the seed set and every augmentation round are labelled by the victim, then one check
    assert result.queries == 8 * 2**4 + 8
