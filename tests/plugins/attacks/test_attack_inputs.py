"""Bad input a user can cause: one clear, one-line UserError each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Case

from physsim.attack import Budget, Goal
from physsim.errors import UserError
from physsim.plugins import get_attacks


def _one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_negative_epsilon() -> None:
    with pytest.raises(UserError, match="eps must be >= 0") as exc:
        Budget("linf", -0.1, 5)
    assert "budget.eps" in _one_line(exc)


def test_zero_steps() -> None:
    with pytest.raises(UserError, match="steps must be >= 1") as exc:
        Budget("linf", 0.1, 0)
    assert "budget.steps" in _one_line(exc)


@pytest.mark.parametrize("steps", [2.5, True])
def test_steps_must_be_a_whole_number(steps: object) -> None:
    # 2.5 was accepted, and pgd then failed inside range() with a TypeError
    with pytest.raises(UserError, match=r"budget\.steps: steps must be a whole number"):
        Budget("linf", 0.1, steps)  # type: ignore[arg-type]


@pytest.mark.parametrize(("bad", "message"), [
    ("nan_x0", "x0 must have values in \\[0, 1\\]"),  # a NaN passed and came back as NaN
    ("target_out_of_range", "goal.targets must be class indices from 0 to"),  # an IndexError
    ("labels_too_short", "goal.labels must have shape"),  # lbfgs took it silently
])
@pytest.mark.parametrize("name", ["fgsm", "pgd", "lbfgs"])
def test_inputs_and_goals_are_checked_before_the_attack(name: str, bad: str, message: str,
                                                        multiclass: Case) -> None:
    x0, labels = multiclass.x0.clone(), multiclass.labels
    targets = (labels + 1) % multiclass.classes
    if bad == "nan_x0":
        x0[0, 0, 0, 0] = float("nan")
    elif bad == "target_out_of_range":
        targets = torch.full_like(labels, multiclass.classes + 4)
    else:
        labels = labels[:-1]
    attack = get_attacks()[name]({})
    with pytest.raises(UserError, match=f"^attack '{name}': {message}"):
        attack.run(multiclass.objective(), x0, Goal("targeted", labels, targets),
                   Budget("l2" if name == "lbfgs" else "linf", 0.5, 2))


def test_targeted_without_a_target(multiclass: Case) -> None:
    with pytest.raises(UserError, match="target") as exc:
        Goal("targeted", multiclass.labels)
    _one_line(exc)


@pytest.mark.parametrize(("name", "norm"), [
    ("fgsm", "l1"), ("pgd", "l0"), ("cw_l2", "linf"), ("deepfool", "l1"), ("square", "l1"),
    ("one_pixel", "linf"), ("lbfgs", "linf"),
])
def test_unsupported_norm_names_the_attack(name: str, norm: str, multiclass: Case) -> None:
    mode = "targeted" if name == "lbfgs" else "untargeted"
    with pytest.raises(UserError, match=f"attack '{name}'.*norm '{norm}' is not supported"):
        multiclass.run(name, Budget(norm, 2.0, 2), mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd", "mifgsm", "square", "universal",
                                  "substitute"])
def test_fixed_budget_attacks_need_a_finite_eps(name: str, multiclass: Case) -> None:
    with pytest.raises(UserError, match=f"attack '{name}' budget.eps: eps must be finite"):
        multiclass.run(name, Budget("linf", float("inf"), 2))


@pytest.mark.parametrize("eps", [0.5, float("inf")])
def test_one_pixel_needs_a_whole_number_of_pixels(eps: float, multiclass: Case) -> None:
    with pytest.raises(UserError, match="number of pixels"):
        multiclass.run("one_pixel", Budget("l0", eps, 2))


def test_untargeted_lbfgs_is_refused(multiclass: Case) -> None:
    with pytest.raises(UserError, match="mode 'untargeted' is not supported"):
        multiclass.run("lbfgs", Budget("l2", 1.0, 2))


def test_iterative_ll_refuses_a_chosen_target(multiclass: Case) -> None:
    with pytest.raises(UserError, match="'bim'"):
        multiclass.run("iterative_ll", Budget("linf", 0.1, 2), "targeted")


def test_inputs_outside_the_unit_range(multiclass: Case) -> None:
    attack = get_attacks()["pgd"]()
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        attack.run(multiclass.objective(), multiclass.x0 * 2, multiclass.goal(),
                   Budget("linf", 0.1, 2))


@pytest.mark.parametrize(("name", "options", "field"), [
    ("deepfool", {"overshoot": -0.1}, "overshoot"),
    ("pgd", {"restarts": 0}, "restarts"),
    ("pgd", {"loss": "hinge"}, "loss"),
    ("cw_l2", {"binary_search_steps": 0}, "binary_search_steps"),
    ("one_pixel", {"population": 2}, "population"),
    ("bim", {"schedule": "fast"}, "schedule"),
    ("goal_vector", {"lambda": -1}, "lambda"),
    ("substitute", {"architecture": "resnet"}, "architecture"),
    ("square", {"p_init": 0}, "p_init"),
    ("universal", {"delta": 1.5}, "delta"),
])
def test_bad_options_name_the_field(name: str, options: dict, field: str) -> None:
    with pytest.raises(UserError, match=f"attack '{name}' options: {field}") as exc:
        get_attacks()[name](options)
    _one_line(exc)


def test_goal_vector_missing_target_file(multiclass: Case, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(UserError, match="x_target: no such file"):
        multiclass.run("goal_vector", Budget("linf", 0.1, 2), "targeted",
                       options={"x_target": str(missing)})


def test_goal_vector_corrupt_target_file(multiclass: Case, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UserError, match="cannot read"):
        multiclass.run("goal_vector", Budget("linf", 0.1, 2), "targeted",
                       options={"x_target": str(bad)})


def test_goal_vector_target_out_of_range(multiclass: Case, tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    np.save(path, np.full((8, 8, 3), 2.0, dtype=np.float32))
    with pytest.raises(UserError, match="values in"):
        multiclass.run("goal_vector", Budget("linf", 0.1, 2), "targeted",
                       options={"x_target": str(path)})


def test_one_pixel_and_square_need_images(multiclass: Case) -> None:
    flat = multiclass.x0.flatten(1)[:, :10]
    objective = multiclass.objective()
    for name, budget in (("one_pixel", Budget("l0", 1, 2)), ("square", Budget("linf", .1, 2))):
        with pytest.raises(UserError, match="needs images"):
            get_attacks()[name]().run(objective, flat, multiclass.goal(), budget,
                                      generator=torch.Generator().manual_seed(0))
