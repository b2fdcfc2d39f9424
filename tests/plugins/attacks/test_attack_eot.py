"""Attacks under Expectation over Transformation: S > 1 samples per call, chunked or not."""

from __future__ import annotations

import pytest
import torch
from conftest import Case

from physsim.attack import Budget
from physsim.objective import ClassifierObjective
from physsim.testing.toy import ToyRenderer

S = 4


class CountingModel:
    """Wraps the toy model and records the batch size of every forward pass."""

    def __init__(self, case: Case) -> None:
        self.model = case.model
        self.batches: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.batches.append(images.shape[0])
        return self.model(images)


def _objective(case: Case, chunk: int | None = None, model: object = None,
               seed: int = 5) -> ClassifierObjective:
    return ClassifierObjective(model or case.model, case.classes, renderer=ToyRenderer(),  # type: ignore[arg-type]
                               samples=S, chunk=chunk,
                               generator=torch.Generator().manual_seed(seed))


def test_pgd_under_eot_sends_b_times_s_images_per_pass(multiclass: Case) -> None:
    counting = CountingModel(multiclass)
    budget = Budget("linf", 0.1, 6)
    result = multiclass.run("pgd", budget, objective=_objective(multiclass, model=counting))
    b = multiclass.x0.shape[0]
    # 6 gradient steps and the final evaluation, each one batch of B inputs x S samples
    assert counting.batches == [b * S] * 7
    assert result.queries == 7 * b * S and result.forwards == 7 and result.backwards == 6
    assert result.success.shape == (b,) and result.success.float().mean() >= 0.5
    assert (result.norms("linf") <= 0.1 + 1e-6).all()


@pytest.mark.parametrize(("name", "budget", "options"), [
    ("pgd", Budget("linf", 0.05, 5), {}),
    ("mifgsm", Budget("l2", 0.5, 5), {}),
    ("deepfool", Budget("l2", float("inf"), 10), {}),
    ("cw_l2", Budget("l2", float("inf"), 10), {"binary_search_steps": 2}),
    ("square", Budget("linf", 0.05, 20), {}),
    ("square", Budget("l2", 0.5, 20), {}),
])
def test_chunking_does_not_change_the_result(name: str, budget: Budget, options: dict,
                                             multiclass: Case) -> None:
    results = [multiclass.run(name, budget, options=options,
                              objective=_objective(multiclass, chunk=chunk))
               for chunk in (None, 1, 3)]
    for other in results[1:]:
        torch.testing.assert_close(other.x_adv, results[0].x_adv, atol=1e-5, rtol=0)
        assert torch.equal(other.success, results[0].success)


def test_black_box_attacks_are_charged_s_queries_per_input(multiclass: Case) -> None:
    b = multiclass.x0.shape[0]
    result = multiclass.run("square", Budget("linf", 0.05, 10),
                            objective=_objective(multiclass))
    # stripes init + 10 iterations + final evaluation, every input, S samples each
    assert result.queries == (1 + 10 + 1) * b * S and result.backwards == 0
    pop, gens = 8, 3
    result = multiclass.run("one_pixel", Budget("l0", 2, gens), options={"population": pop},
                            objective=_objective(multiclass))
    assert result.queries == (b * pop * (1 + gens) + b) * S and result.backwards == 0


def test_eot_gradient_differs_from_the_clean_one(multiclass: Case) -> None:
    # the attack must see the EOT average, not the first sample or the clean input
    budget = Budget("linf", 0.05, 1)
    clean = multiclass.run("fgsm", budget)
    eot = multiclass.run("fgsm", budget, objective=_objective(multiclass))
    assert not torch.equal(clean.x_adv, eot.x_adv)
