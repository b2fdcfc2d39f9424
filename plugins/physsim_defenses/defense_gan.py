"""Defense-GAN (Samangouei, Kabkab and Chellappa 2018, arXiv:1805.06605).

A GAN learns the clean images; every input is replaced by ``G(z*)`` with
``z* = argmin_z ||G(z) - x||^2``, found by ``steps`` of gradient descent from ``restarts``
random latents (the best kept). The projection is an optimisation, not a differentiable
function, and its random starts make it randomised: an adaptive attack uses BPDA
(straight-through, as Athalye et al. 2018 did) together with EOT over the restarts.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from physsim.defense import InputTransform
from physsim_defenses.magnet import DomainNet, DomainOptions
from physsim_defenses.nets import Generator


class DefenseGANOptions(DomainOptions):
    """Attributes:
        steps: L, gradient steps of the latent search.
        restarts: R, random latents per input (the best reconstruction kept).
        lr: the latent search's Adam step size.
        seed: seeds the latents; successive calls draw fresh ones (the defense is random).
    """

    steps: int = Field(60, ge=1)
    restarts: int = Field(4, ge=1)
    lr: float = Field(0.1, gt=0)
    seed: int = Field(0, ge=0, le=2**63 - 1)  # what torch.Generator.manual_seed takes


def project(generator: Generator, target: torch.Tensor, z0: torch.Tensor, steps: int,
            lr: float) -> torch.Tensor:
    """Latent search: minimise ``||G(z) - target||^2`` over z from ``z0`` (one per row).

    Shape:
        - target: (N, C, H, W); z0: (N, latent).
        - Output: (N, latent) the latents found (detached).
    """
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (generator(z) - target).pow(2).flatten(1).sum(1)
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
    return z.detach()


class DefenseGAN(DomainNet, InputTransform):
    """Defense-GAN: inputs projected onto the range of a GAN's generator."""

    name = "defense_gan"
    file_prefix = "defense_gan"
    randomized = True
    Options = DefenseGANOptions
    options: DefenseGANOptions

    def build(self, meta: dict[str, Any]) -> nn.Module:
        return Generator.from_meta(meta)

    def _latents(self, n: int, latent: int, device: torch.device) -> torch.Tensor:
        gen: torch.Generator | None = getattr(self, "_rng", None)
        if gen is None:
            gen = self._rng = torch.Generator().manual_seed(self.options.seed)
        return torch.randn(n, latent, generator=gen).to(device)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        g = self.network(x.device)
        assert isinstance(g, Generator)
        o = self.options
        target = self.domain.to_net(x.detach())
        b = x.shape[0]
        reps = target.repeat_interleave(o.restarts, 0)
        z = project(g, reps, self._latents(b * o.restarts, g.latent, x.device), o.steps, o.lr)
        with torch.no_grad():
            images = g(z)
            err = (images - reps).pow(2).flatten(1).sum(1).view(b, o.restarts)
            best = err.argmin(1) + torch.arange(b, device=x.device) * o.restarts
            return self.domain.from_net(images[best]).clone()
