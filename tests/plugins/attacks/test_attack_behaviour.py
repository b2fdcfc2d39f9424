"""What individual attacks promise beyond the shared contract."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import Case
from physsim_attacks._squares import bounds, centre_pattern, l2_init, l2_step, window
from physsim_attacks.bim import kurakin_steps
from physsim_attacks.square import square_fraction

from physsim.attack import Budget, Goal
from physsim.plugins import get_attacks


def test_kurakin_schedule() -> None:
    # min(eps*255 + 4, 1.25 * eps*255) from Kurakin et al. (2016)
    assert kurakin_steps(4 / 255) == 5
    assert kurakin_steps(16 / 255) == 20
    assert kurakin_steps(32 / 255) == 36
    assert kurakin_steps(0.0) == 1


def test_bim_kurakin_schedule_sets_steps_and_alpha(multiclass: Case) -> None:
    eps = 8 / 255
    result = multiclass.run("bim", Budget("linf", eps, 50), options={"schedule": "kurakin"})
    assert result.extras["steps"] == kurakin_steps(eps) == 10
    assert result.forwards == 10 + 1
    # alpha = 1/255 per step: after n steps no pixel moved more than n/255
    assert (result.norms("linf") <= eps + 1e-6).all()
    capped = multiclass.run("bim", Budget("linf", eps, 3, step_size=1 / 255))
    assert (capped.norms("linf") <= 3 / 255 + 1e-6).all()


def test_iterative_ll_reaches_the_least_likely_class(multiclass: Case) -> None:
    least = multiclass.model(multiclass.x0).argmin(1)
    result = multiclass.run("iterative_ll", Budget("linf", 0.3, 30))
    assert result.success.all()
    assert torch.equal(multiclass.model(result.x_adv).argmax(1), least)


def test_least_likely_goal_resolves_targets_for_bim(multiclass: Case) -> None:
    least = multiclass.model(multiclass.x0).argmin(1)
    attack = get_attacks()["bim"]()
    result = attack.run(multiclass.objective(), multiclass.x0,
                        Goal("least_likely", multiclass.labels), Budget("linf", 0.3, 30))
    assert torch.equal(multiclass.model(result.x_adv).argmax(1), least)


def test_early_stop_saves_queries_and_keeps_success(multiclass: Case) -> None:
    budget = Budget("linf", 0.2, 20)
    full = multiclass.run("pgd", budget)
    early = multiclass.run("pgd", budget, early_stop=True)
    assert early.queries < full.queries
    assert early.success.all() and full.success.all()


def test_pgd_restarts_keep_the_best(multiclass: Case) -> None:
    budget = Budget("linf", 0.02, 3)
    one = multiclass.run("pgd", budget)
    three = multiclass.run("pgd", budget, options={"restarts": 3})
    assert three.success.sum() >= one.success.sum()
    # three runs of 3 steps, an evaluation after each run, and the final evaluation
    assert three.forwards == 3 * 3 + 3 + 1


def test_random_start_depends_on_the_seed(multiclass: Case) -> None:
    budget = Budget("l2", 0.3, 2)
    a = multiclass.run("pgd", budget, seed=1)
    b = multiclass.run("pgd", budget, seed=2)
    assert not torch.equal(a.x_adv, b.x_adv)
    plain = multiclass.run("pgd", budget, seed=1, options={"random_start": False})
    again = multiclass.run("pgd", budget, seed=2, options={"random_start": False})
    assert torch.equal(plain.x_adv, again.x_adv)


def test_mifgsm_default_step_is_eps_over_steps(binary: Case) -> None:
    # two classes: the gradient keeps its sign, so T steps of eps / T move every pixel by
    # exactly eps, no more (no projection needed) and no less
    eps = 0.05
    result = binary.run("mifgsm", Budget("linf", eps, 5))
    torch.testing.assert_close(result.perturbation.abs(),
                               torch.full_like(binary.x0, eps), atol=1e-6, rtol=0)


def test_cw_reports_its_constant(multiclass: Case) -> None:
    result = multiclass.run("cw_l2", Budget("l2", float("inf"), 30),
                            options={"binary_search_steps": 3, "initial_const": 1.0})
    assert result.success.all() and result.extras["const"] > 0
    never = multiclass.run("cw_l2", Budget("l2", float("inf"), 5),
                           options={"binary_search_steps": 1, "initial_const": 1e-6})
    # an input never fooled comes back unchanged
    assert torch.equal(never.x_adv[~never.success], multiclass.x0[~never.success])


def test_goal_vector_moves_towards_x_target(binary: Case, tmp_path: Path) -> None:
    other = torch.full_like(binary.x0[:1], 0.5)
    path = tmp_path / "grey.png"
    assert cv2.imwrite(str(path), np.full((16, 16, 3), 128, dtype=np.uint8))
    budget = Budget("l2", float("inf"), 40, step_size=0.05)
    result = binary.run("goal_vector", budget, "targeted",
                        options={"lambda": 1.0, "x_target": str(path)})
    before = (binary.x0 - other).flatten(1).norm(dim=1)
    after = (result.x_adv - other).flatten(1).norm(dim=1)
    assert (after < before).all()


def test_goal_vector_reads_npy_targets(binary: Case, tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.full((3, 8, 8), 0.5, dtype=np.float32))
    result = binary.run("goal_vector", Budget("linf", 0.1, 3), "targeted",
                        options={"x_target": str(path)})
    assert result.x_adv.shape == binary.x0.shape


def test_one_pixel_changes_at_most_k_pixels(multiclass: Case) -> None:
    result = multiclass.run("one_pixel", Budget("l0", 3, 5), options={"population": 16})
    changed = (result.perturbation.abs() > 0).any(1).flatten(1).sum(1)
    assert (changed <= 3).all() and (result.norms("l0") == changed).all()


def test_square_schedule_halves_the_area() -> None:
    assert square_fraction(0.1, 0, 10000) == 0.1
    assert square_fraction(0.1, 11, 10000) == 0.05
    assert square_fraction(0.1, 9000, 10000) == pytest.approx(0.1 / 512)
    # rescaled to short runs
    assert square_fraction(0.1, 50, 100) == square_fraction(0.1, 5000, 10000)


def test_square_early_stop_saves_queries(multiclass: Case) -> None:
    budget = Budget("linf", 1.5 * float(multiclass.optimum("linf").max()), 300)
    full = multiclass.run("square", budget)
    early = multiclass.run("square", budget, early_stop=True)
    assert early.success.all() and early.queries < full.queries


def test_substitute_warns_when_the_seeds_share_one_label(binary: Case) -> None:
    with pytest.warns(UserWarning, match="one class"):
        binary.run("substitute", Budget("linf", 0.05, 2),
                   options={"rounds": 1, "epochs": 1, "architecture": "mlp"})


def test_substitute_never_uses_victim_gradients(multiclass: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = multiclass.run("substitute", Budget("l2", 0.5, 3),
                                options={"rounds": 2, "epochs": 2, "transfer": "pgd"})
    assert result.backwards == 0
    assert result.extras["set_size"] == multiclass.x0.shape[0] * 4
    assert 0 <= result.extras["agreement"] <= 1


def test_square_l2_pattern_and_step() -> None:
    shape = torch.Size([2, 3, 12, 12])
    win = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 5.0]])
    pattern = centre_pattern(win, torch.tensor([False, True]), shape)
    assert pattern.shape == (2, 1, 12, 12)
    torch.testing.assert_close(pattern.flatten(1).norm(dim=1), torch.ones(2))
    assert pattern[0, 0, 1:7, 2:8].abs().sum() == pattern[0].abs().sum()  # zero outside
    assert (pattern[0, 0, 1:4, 2:8] >= 0).all() and (pattern[0, 0, 4:7, 2:8] <= 0).all()
    assert (pattern[1, 0, 0:5, 0:2] >= 0).all() and (pattern[1, 0, 0:5, 2:5] <= 0).all()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full(shape, 0.5)
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., 2:10, 2:10] = 1
    box = bounds(x0, mask.expand(2, 1, 12, 12))
    assert box.tolist() == [[2, 2, 8, 8]] * 2
    delta = l2_init(x0, 0.7, box, gen, mask)
    torch.testing.assert_close(delta.flatten(1).norm(dim=1), torch.full((2,), 0.7))
    new = l2_step(delta, window(box, 0.1, gen, x0), window(box, 0.1, gen, x0), 0.7, gen, mask)
    torch.testing.assert_close(new.flatten(1).norm(dim=1), torch.full((2,), 0.7))
    assert (new * (1 - mask)).abs().sum() == 0


@pytest.mark.parametrize(("name", "norm"), [
    ("fgsm", "l2"), ("bim", "linf"), ("pgd", "l2"), ("mifgsm", "linf"), ("square", "l2"),
    ("universal", "linf"), ("deepfool", "l2"), ("cw_l2", "l2"),
])
def test_zero_eps_returns_the_clean_input(name: str, norm: str, multiclass: Case) -> None:
    # epsilon sweeps start at 0: no NaN from normalising a zero step, no movement at all
    options = {"binary_search_steps": 1} if name == "cw_l2" else {}
    result = multiclass.run(name, Budget(norm, 0.0, 2), options=options)  # type: ignore[arg-type]
    assert torch.equal(result.x_adv, multiclass.x0)
