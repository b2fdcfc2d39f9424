"""physsim.perturbation: norms, projections, box and mask, random starts, steepest steps."""

from __future__ import annotations

import pytest
import torch

from physsim.attack import AttackResult
from physsim.perturbation import (
    clamp_to_box,
    feasible,
    lp_norm,
    project,
    rand,
    random_start,
    steepest_direction,
)

NORMS = ("linf", "l2", "l1")


def _delta(seed: int = 0, shape: tuple[int, ...] = (5, 3, 6, 6)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.3


def test_norms_are_per_input_over_the_whole_tensor() -> None:
    d = torch.zeros(2, 3, 4, 4)
    d[0, 0, 0, 0], d[0, 2, 0, 0], d[0, 1, 3, 3] = 0.5, -0.2, 0.1
    assert lp_norm(d, "linf").tolist() == pytest.approx([0.5, 0.0])
    assert lp_norm(d, "l2")[0] == pytest.approx((0.25 + 0.04 + 0.01) ** 0.5)
    assert lp_norm(d, "l1")[0] == pytest.approx(0.8)
    # l0 counts pixels of images: two channels of pixel (0, 0) count once
    assert lp_norm(d, "l0").tolist() == [2.0, 0.0]
    assert lp_norm(d.flatten(1), "l0").tolist() == [3.0, 0.0]
    result = AttackResult(d, d, torch.zeros(2, dtype=torch.bool))
    assert result.norms("l0").tolist() == [2.0, 0.0]


@pytest.mark.parametrize("norm", NORMS)
def test_projection_lands_in_the_ball_and_keeps_inner_points(norm: str) -> None:
    d = _delta()
    eps = float(lp_norm(d, norm).median())
    p = project(d, norm, eps)  # type: ignore[arg-type]
    assert (lp_norm(p, norm) <= eps * (1 + 1e-5)).all()  # type: ignore[arg-type]
    inside = lp_norm(d, norm) <= eps  # type: ignore[arg-type]
    torch.testing.assert_close(p[inside], d[inside])
    # the projection of a point outside lies on the sphere
    outside = ~inside
    torch.testing.assert_close(lp_norm(p[outside], norm),  # type: ignore[arg-type]
                               torch.full((int(outside.sum()),), eps), rtol=1e-5, atol=1e-6)


def test_l1_projection_is_the_closest_point() -> None:
    # compare with a reference: soft threshold at the theta found by bisection
    d = _delta(1, (3, 40))
    eps = 1.0
    p = project(d, "l1", eps)
    for row, got in zip(d, p):
        lo, hi = 0.0, float(row.abs().max())
        for _ in range(100):
            theta = (lo + hi) / 2
            if (row.abs() - theta).clamp(min=0).sum() > eps:
                lo = theta
            else:
                hi = theta
        want = row.sign() * (row.abs() - hi).clamp(min=0)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_l0_projection_keeps_the_largest_pixels() -> None:
    d = torch.zeros(1, 3, 4, 4)
    d[0, :, 0, 0], d[0, 0, 1, 1], d[0, 2, 2, 2] = 0.1, 0.9, -0.5
    p = project(d, "l0", 2)
    assert lp_norm(p, "l0").item() == 2
    assert p[0, 0, 1, 1] == 0.9 and p[0, 2, 2, 2] == -0.5 and p[0, :, 0, 0].abs().sum() == 0


def test_infinite_eps_does_not_project() -> None:
    d = _delta()
    assert torch.equal(project(d, "l2", float("inf")), d)


@pytest.mark.parametrize("norm", NORMS)
def test_box_clamp_never_grows_a_norm(norm: str) -> None:
    x0 = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    d = _delta() * 3
    c = clamp_to_box(x0, d)
    assert (x0 + c).min() >= 0 and (x0 + c).max() <= 1
    assert (lp_norm(c, norm) <= lp_norm(d, norm) + 1e-6).all()  # type: ignore[arg-type]


def test_feasible_applies_mask_ball_and_box() -> None:
    x0 = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3, :] = 1
    d = feasible(_delta() * 5, x0, "linf", 0.1, mask)
    assert d[..., 3:, :].abs().sum() == 0
    assert d.abs().max() <= 0.1 + 1e-7
    assert (x0 + d).min() >= 0 and (x0 + d).max() <= 1


@pytest.mark.parametrize("norm", (*NORMS, "l0"))
def test_random_start_is_feasible_and_seeded(norm: str) -> None:
    x0 = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(4))
    a = random_start(x0, norm, 0.3, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    b = random_start(x0, norm, 0.3, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    c = random_start(x0, norm, 0.3, torch.Generator().manual_seed(2))  # type: ignore[arg-type]
    assert torch.equal(a, b)
    assert (x0 + a).min() >= 0 and (x0 + a).max() <= 1
    if norm == "l0":
        assert a.abs().sum() == 0
        return
    assert not torch.equal(a, c)
    assert (lp_norm(a, norm) <= 0.3 + 1e-6).all()  # type: ignore[arg-type]
    assert (lp_norm(a, norm) > 0).all()  # type: ignore[arg-type]


@pytest.mark.parametrize(("norm", "dual"), [("linf", "l1"), ("l2", "l2"), ("l1", "linf")])
def test_steepest_direction_attains_the_dual_norm(norm: str, dual: str) -> None:
    g = _delta(5)
    d = steepest_direction(g, norm)  # type: ignore[arg-type]
    torch.testing.assert_close(lp_norm(d, norm), torch.ones(5))  # type: ignore[arg-type]
    # <g, d> over the unit ball is maximal: the dual norm of g
    torch.testing.assert_close((g * d).flatten(1).sum(1), lp_norm(g, dual))  # type: ignore[arg-type]


def test_steepest_direction_has_no_l0_version() -> None:
    with pytest.raises(ValueError, match="l0"):
        steepest_direction(_delta(), "l0")


def test_rand_moves_numbers_to_the_target_tensor() -> None:
    like = torch.zeros(1, dtype=torch.float64)
    r = rand((3,), torch.Generator().manual_seed(0), like=like)
    assert r.dtype == torch.float64 and r.device == like.device
    assert torch.equal(r, rand((3,), torch.Generator().manual_seed(0), like=like))
