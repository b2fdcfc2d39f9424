"""The objective the core hands to attacks: counts, shapes, and chunked EOT gradients."""

from __future__ import annotations

from typing import Any

import torch

from physsim.attack import Goal
from physsim.objective import ClassifierObjective
from physsim.testing import linear_toy_classifier, toy_images


class ShiftRenderer:
    """A tiny EOT renderer: per sample a brightness gain and a one-pixel roll."""

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"gain": 0.8 + 0.4 * torch.rand(n, generator=generator),
                "shift": torch.randint(-1, 2, (n,), generator=generator)}

    def select(self, params: dict[str, torch.Tensor], index: slice) -> dict[str, Any]:
        return {k: v[index] for k, v in params.items()}

    def render(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        outs = [torch.roll(x, int(s), dims=-1) * g for g, s in zip(params["gain"], params["shift"])]
        return torch.stack(outs, 1).clamp(0, 1)


def test_without_renderer_logits_have_one_sample() -> None:
    model = linear_toy_classifier()
    obj = ClassifierObjective(model, model.num_classes)
    x = toy_images(5)
    assert obj.logits(x).shape == (5, 1, 3)
    assert (obj.forwards, obj.queries) == (1, 5)


def test_chunked_gradient_equals_single_batch() -> None:
    model = linear_toy_classifier()
    x = toy_images(3)
    goal = Goal("untargeted", model(x).argmax(1))
    results = []
    for chunk in (None, 3, 8):
        obj = ClassifierObjective(model, 3, renderer=ShiftRenderer(), samples=8, chunk=chunk,
                                  generator=torch.Generator().manual_seed(4))
        loss, grad, logits = obj.value_and_grad(x, goal.loss)
        assert logits.shape == (3, 8, 3) and loss.shape == (3,) and grad.shape == x.shape
        results.append((loss, grad, obj.forwards))
    for loss, grad, _ in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(grad, results[0][1])
    assert [r[2] for r in results] == [1, 3, 1]


def test_gradient_matches_autograd_of_mean_loss() -> None:
    model = linear_toy_classifier()
    x = toy_images(2)
    goal = Goal("targeted", model(x).argmax(1), torch.tensor([0, 1]))
    r = ShiftRenderer()
    params = r.sample(4, torch.Generator().manual_seed(9))
    xr = x.clone().requires_grad_(True)
    imgs = r.render(xr, params)
    ref = goal.loss(model(imgs.flatten(0, 1)).view(2, 4, -1)).mean(1)
    ref.sum().backward()
    obj = ClassifierObjective(model, 3, renderer=r, samples=4,
                              generator=torch.Generator().manual_seed(9))
    loss, grad, _ = obj.value_and_grad(x, goal.loss)
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(grad, xr.grad)
