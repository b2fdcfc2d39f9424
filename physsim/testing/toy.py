"""A tiny linear classifier and images for contract tests: seconds on a CPU, no weights."""

from __future__ import annotations

import torch
from torch import nn

from physsim.classifier import Classifier


def linear_toy_classifier(num_classes: int = 3, size: int = 8, seed: int = 0) -> Classifier:
    """A seeded linear classifier over (B, 3, size, size) images in [0, 1].

    Being linear, its minimal perturbations are known in closed form, which is what attack
    tests compare against.
    """
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(3 * size * size, num_classes)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / size)
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.1)
    net = nn.Sequential(nn.Flatten(), lin)
    labels = [f"class{i}" for i in range(num_classes)]
    return Classifier(net, labels, (size, size))


def toy_images(n: int = 4, size: int = 8, seed: int = 1) -> torch.Tensor:
    """(n, 3, size, size) images in [0.2, 0.8], so attacks have room in both directions."""
    g = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(n, 3, size, size, generator=g)


def linear_minimal_norm(model: Classifier, x: torch.Tensor, norm: str,
                        targets: torch.Tensor | None = None) -> torch.Tensor:
    """The exact minimal perturbation norm that changes an affine classifier's decision.

    For ``f(x) = W x + b`` with predicted class ``i``, the distance to the boundary with class
    ``j`` is ``(f_i - f_j) / ||w_i - w_j||_q`` with ``q`` the dual norm (l2 -> 2, linf -> 1,
    l1 -> inf). Untargeted: the minimum over ``j != i``, which is exact for any number of
    classes. Targeted: only for two classes, where the target is the other one. The [0, 1]
    box is ignored, so keep inputs far enough from its edges. W is read off the Jacobian, so
    any affine model (including the classifier's normalisation) works.

    Args:
        model: an affine classifier over (B, ...) inputs.
        x: (B, ...) inputs.
        norm: "l2", "linf" or "l1".
        targets: (B,) target classes for a binary targeted optimum, else None.

    Returns:
        (B,) the minimal norms.
    """
    dual = {"l2": 2.0, "linf": 1.0, "l1": float("inf")}[norm]
    with torch.no_grad():
        logits = model(x)
    if targets is not None and logits.shape[1] != 2:
        raise ValueError("the targeted optimum is closed-form only for two classes")
    jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0], x[0])
    w = jac.flatten(1)  # (C, D)
    pred = logits.argmax(1)
    diff = w[pred].unsqueeze(1) - w.unsqueeze(0)  # (B, C, D)
    gap = logits.gather(1, pred.view(-1, 1)) - logits  # (B, C)
    dist = gap / diff.norm(p=dual, dim=2).clamp(min=1e-12)
    dist = dist.scatter(1, pred.view(-1, 1), float("inf"))
    return dist.amin(1)


class ToyRenderer:
    """A tiny EOT renderer for tests: random brightness and a random circular shift.

    ``sample(n, generator)`` draws ``brightness`` (n,) in [lo, hi] and integer ``shift``
    (n, 2) in [-max_shift, max_shift]; ``render(x, params)`` maps (B, 3, H, W) to
    (B, n, 3, H, W) with one gather per axis (no loop over samples). It implements the
    :class:`physsim.objective.Renderer` protocol.
    """

    def __init__(self, brightness: tuple[float, float] = (0.8, 1.2), max_shift: int = 1):
        self.brightness = brightness
        self.max_shift = max_shift

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        lo, hi = self.brightness
        gain = lo + (hi - lo) * torch.rand(n, generator=generator, device=generator.device)
        shift = torch.randint(-self.max_shift, self.max_shift + 1, (n, 2), generator=generator,
                              device=generator.device)
        return {"brightness": gain, "shift": shift}

    def select(self, params: dict[str, torch.Tensor], index: slice) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in params.items()}

    def render(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        b, c, h, w = x.shape
        gain = params["brightness"].to(x)
        shift = params["shift"].to(x.device)
        n = gain.shape[0]
        rows = (torch.arange(h, device=x.device) - shift[:, :1]) % h  # (n, h)
        cols = (torch.arange(w, device=x.device) - shift[:, 1:]) % w  # (n, w)
        out = x.unsqueeze(1).expand(b, n, c, h, w)
        out = out.gather(3, rows.view(1, n, 1, h, 1).expand(b, n, c, h, w))
        out = out.gather(4, cols.view(1, n, 1, 1, w).expand(b, n, c, h, w))
        return (out * gain.view(1, n, 1, 1, 1)).clamp(0, 1)
