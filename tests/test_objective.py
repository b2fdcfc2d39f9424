"""The objective the core hands to attacks: counts, shapes, chunked EOT gradients, and chunks
that free their memory before the next one is rendered."""

from __future__ import annotations

import weakref
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


class _Kept(torch.autograd.Function):
    """Identity on the images that saves ``marker`` for its backward pass, as an operation
    saves what its gradient needs: the marker lives exactly as long as that saved state."""

    @staticmethod
    def forward(ctx: Any, images: torch.Tensor, marker: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(marker)
        return images.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class KeepingRenderer(ShiftRenderer):
    """ShiftRenderer, whose every render keeps a marker in its graph's saved state. Records
    each render's sample count and whether the previous render's marker was still held when
    it began."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.previous_held: list[bool] = []
        self._last: weakref.ref[torch.Tensor] | None = None

    def render(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        self.previous_held.append(self._last is not None and self._last() is not None)
        marker = torch.zeros(1)
        self._last = weakref.ref(marker)
        out = _Kept.apply(super().render(x, params), marker)
        self.samples.append(out.shape[1])
        return out


def test_chunks_free_their_graph_before_the_next_chunk() -> None:
    """Peak memory is bounded by the chunk: no render sees more than C samples, and what each
    chunk's graph saved for its backward pass is freed before the next chunk is rendered."""
    model = linear_toy_classifier()
    x = toy_images(2)
    goal = Goal("untargeted", model(x).argmax(1))
    renderer = KeepingRenderer()
    obj = ClassifierObjective(model, 3, renderer=renderer, samples=8, chunk=3,
                              generator=torch.Generator().manual_seed(2))
    _, grad, logits = obj.value_and_grad(x, goal.loss)
    assert renderer.samples == [3, 3, 2]
    assert renderer.previous_held == [False, False, False]
    assert logits.shape == (2, 8, 3) and bool(grad.abs().sum() > 0)


def test_inputs_made_under_inference_mode_take_a_gradient() -> None:
    model = linear_toy_classifier()
    goal = Goal("untargeted", model(toy_images(2)).argmax(1))
    with torch.inference_mode():
        x = toy_images(2)
    obj = ClassifierObjective(model, 3, renderer=ShiftRenderer(), samples=4, chunk=2)
    _, grad, _ = obj.value_and_grad(x, goal.loss)
    reference = ClassifierObjective(model, 3, renderer=ShiftRenderer(), samples=4, chunk=2)
    torch.testing.assert_close(grad, reference.value_and_grad(toy_images(2), goal.loss)[1])


def test_the_gradient_is_a_tensor_of_its_own() -> None:
    """A gradient that autograd hands back broadcast (here, of a sum) comes back as a tensor
    of its own, which an attack may update in place; chunks add up into it."""
    def model(x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, 2)
        s = x.sum((1, 2, 3))
        return torch.stack([s, -s], 1)

    x = toy_images(2)
    for renderer, chunk in ((None, None), (ShiftRenderer(), 2)):
        obj = ClassifierObjective(model, 2, renderer=renderer, samples=4, chunk=chunk)
        _, grad, _ = obj.value_and_grad(x, lambda logits: logits[..., 0])
        assert grad.is_contiguous() and grad.shape == x.shape
        grad.mul_(2)  # writable in place
    _, grad, _ = ClassifierObjective(model, 2).value_and_grad(x, lambda logits: logits[..., 0])
    torch.testing.assert_close(grad, torch.ones_like(x))


def test_the_loss_comes_back_in_the_inputs_dtype() -> None:
    """float64 inputs on a float32 model: the loss is float64, as a sum from zero in the
    inputs' dtype gives, chunked or not."""
    model = linear_toy_classifier()

    def net(x: torch.Tensor) -> torch.Tensor:
        return model(x.float())

    x = toy_images(2).double()
    for chunk in (None, 2):
        obj = ClassifierObjective(net, 3, renderer=ShiftRenderer(), samples=4, chunk=chunk)
        loss, grad, _ = obj.value_and_grad(x, lambda logits: logits[..., 0])
        assert loss.dtype == torch.float64 and grad.dtype == torch.float64
