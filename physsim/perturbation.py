"""Tensor helpers every attack needs: norms, projections onto norm balls, box and mask clamps,
random starts and steepest-ascent directions.

Conventions shared by the built-in attacks and meant for third-party ones:

- ``x0`` is the clean (B, ...) tensor in [0, 1] (an image batch, a texture or a patch).
- ``delta`` is the perturbation, same shape; the adversarial tensor is ``x0 + delta`` and
  ``delta`` is already multiplied by the mask (zero where the attack may not act).
- Norms are taken per input over the *whole* tensor (``flatten(1)``), never per channel.
- "l0" counts changed *pixels* for (B, C, H, W) tensors (a pixel counts once whatever its
  channels do, as one-pixel attacks mean it) and changed elements otherwise.

Random numbers are drawn from an explicit ``torch.Generator`` on the generator's own device
and then moved, so a CPU generator also drives a CUDA attack and the same seed gives the same
numbers on every device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from physsim.attack import Norm

#: below this an element counts as unchanged (for "l0")
L0_TOLERANCE = 1e-8


def rand(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, *,
         like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) numbers from ``generator``, on ``like``'s device and dtype."""
    out = torch.rand(tuple(shape), generator=generator, device=generator.device)
    return out.to(device=like.device, dtype=like.dtype)


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, *,
          like: torch.Tensor) -> torch.Tensor:
    """Standard normal numbers from ``generator``, on ``like``'s device and dtype."""
    out = torch.randn(tuple(shape), generator=generator, device=generator.device)
    return out.to(device=like.device, dtype=like.dtype)


def randint(high: int, shape: tuple[int, ...], generator: torch.Generator, *,
            device: torch.device) -> torch.Tensor:
    """Integers in [0, high) from ``generator``, moved to ``device``."""
    out = torch.randint(high, shape, generator=generator, device=generator.device)
    return out.to(device)


def _l0_support(delta: torch.Tensor) -> torch.Tensor:
    """(B, n) bool: which pixels (4-D input) or elements (otherwise) are changed."""
    changed = delta.abs() > L0_TOLERANCE
    if delta.ndim == 4:
        changed = changed.any(1)
    return changed.flatten(1)


def lp_norm(delta: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The norm of each input's perturbation.

    Args:
        delta: (B, ...) perturbations.
        norm: "linf", "l2", "l1" or "l0" (pixels changed, see the module docstring).

    Returns:
        (B,) norms, in ``delta``'s dtype.
    """
    d = delta.flatten(1)
    if norm == "linf":
        return d.abs().amax(1)
    if norm == "l2":
        return d.norm(dim=1)
    if norm == "l1":
        return d.abs().sum(1)
    if norm == "l0":
        return _l0_support(delta).to(delta.dtype).sum(1)
    raise ValueError(f"unknown norm {norm!r}")


def _view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against ``like``."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _project_l1(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Euclidean projection onto the L1 ball by sorting (Duchi et al. 2008), batched."""
    flat = delta.flatten(1)
    mag = flat.abs()
    inside = mag.sum(1) <= eps
    srt, _ = mag.sort(1, descending=True)
    cum = srt.cumsum(1) - eps
    ranks = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
    # rho: the last sorted index whose element stays positive after the shift theta
    rho = ((srt - cum / ranks) > 0).to(flat.dtype).mul(ranks).argmax(1, keepdim=True)
    theta = cum.gather(1, rho) / (rho + 1).to(flat.dtype)
    shrunk = flat.sign() * (mag - theta).clamp(min=0)
    return torch.where(inside.unsqueeze(1), flat, shrunk).view_as(delta)


def _project_l0(delta: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest pixels (4-D) or elements by magnitude; zero the rest."""
    mag = delta.abs().sum(1) if delta.ndim == 4 else delta.abs()
    flat = mag.flatten(1)
    if k >= flat.shape[1]:
        return delta
    if k <= 0:
        return torch.zeros_like(delta)
    # exactly k kept even when magnitudes tie
    top = flat.topk(k, dim=1).indices
    keep = torch.zeros_like(flat, dtype=torch.bool).scatter(1, top, True)
    keep = keep.view(mag.shape)
    if delta.ndim == 4:
        keep = keep.unsqueeze(1)
    return delta * keep


def project(delta: torch.Tensor, norm: Norm, eps: float) -> torch.Tensor:
    """Project each input's perturbation onto the ``eps`` ball of ``norm``.

    Exact Euclidean projection for "linf" (clamp), "l2" (rescale) and "l1" (sort-based);
    for "l0" the ``floor(eps)`` largest pixels are kept. ``eps = inf`` returns ``delta``.

    Shape:
        - delta: (B, ...); output: same shape.
    """
    if math.isinf(eps):
        return delta
    if norm == "linf":
        return delta.clamp(-eps, eps)
    if norm == "l2":
        n = lp_norm(delta, "l2")
        factor = (eps / n.clamp(min=1e-12)).clamp(max=1.0)
        return delta * _view(factor, delta)
    if norm == "l1":
        return _project_l1(delta, eps)
    if norm == "l0":
        return _project_l0(delta, int(eps))
    raise ValueError(f"unknown norm {norm!r}")


def clamp_to_box(x0: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """The perturbation that keeps ``x0 + delta`` in [0, 1].

    Clamping moves every element towards ``x0`` (which lies in the box), so it never increases
    any norm of ``delta``: projecting onto the ball first and clamping second stays feasible.
    """
    return (x0 + delta).clamp(0.0, 1.0) - x0


def apply_mask(delta: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``mask * delta``; None means the attack may change everything."""
    return delta if mask is None else delta * mask


def feasible(delta: torch.Tensor, x0: torch.Tensor, norm: Norm, eps: float,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mask, project onto the ball, clamp to the box: a perturbation that keeps every rule.

    Args:
        delta: (B, ...) raw perturbation.
        x0: (B, ...) clean tensor in [0, 1].
        norm: the budget's norm.
        eps: the budget's radius.
        mask: broadcastable to ``x0``, 1 where changes are allowed.

    Returns:
        (B, ...) perturbation: zero outside the mask, within the ball, ``x0 + delta`` in [0, 1].
    """
    return clamp_to_box(x0, project(apply_mask(delta, mask), norm, eps))


def random_start(x0: torch.Tensor, norm: Norm, eps: float, generator: torch.Generator,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """A random feasible perturbation, uniform in the ``eps`` ball (Madry et al. 2017,
    arXiv:1706.06083).

    "linf" draws each element uniformly in [-eps, eps]; "l2" and "l1" draw uniformly in the
    ball (a random direction, radius ``eps * u ** (1 / n)``); "l0" returns zeros.

    Shape:
        - x0: (B, ...); output: same shape, already passed through :func:`feasible`.
    """
    if norm == "l0" or eps == 0 or math.isinf(eps):
        return torch.zeros_like(x0)
    if norm == "linf":
        delta = (2 * rand(x0.shape, generator, like=x0) - 1) * eps
    else:
        direction = randn(x0.shape, generator, like=x0)
        if norm == "l1":
            # Laplace samples normalised by their L1 norm are uniform on the L1 sphere
            direction = direction.sign() * (-torch.log1p(-rand(x0.shape, generator, like=x0)))
        direction = direction / _view(lp_norm(direction, norm).clamp(min=1e-12), x0)
        n = x0[0].numel()
        radius = eps * rand((x0.shape[0],), generator, like=x0) ** (1.0 / n)
        delta = direction * _view(radius, x0)
    return feasible(delta, x0, norm, eps, mask)


def steepest_direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The unit-norm direction of steepest increase of a linear function with gradient ``grad``.

    "linf": ``sign(grad)`` (FGSM); "l2": ``grad / ||grad||_2``; "l1": the single coordinate of
    largest ``|grad|`` per input, with its sign. Subtract it to descend.

    Shape:
        - grad: (B, ...); output: same shape.
    """
    if norm == "linf":
        return grad.sign()
    if norm == "l2":
        return grad / _view(lp_norm(grad, "l2").clamp(min=1e-12), grad)
    if norm == "l1":
        flat = grad.flatten(1)
        top = flat.abs().argmax(1, keepdim=True)
        out = torch.zeros_like(flat).scatter(1, top, flat.gather(1, top).sign())
        return out.view_as(grad)
    raise ValueError(f"no steepest direction for norm {norm!r}")
