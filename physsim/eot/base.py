"""The transform contract: ``sample(n, generator) -> params``, ``apply(images, params)``."""

from __future__ import annotations

from abc import abstractmethod

import torch

from physsim.component import Component

#: A batch of parameters: each value has the batch size n as its first dimension.
Params = dict[str, torch.Tensor]


class Transform(Component):
    """An EOT transform with the sample/apply split (kornia's routine).

    ``sample`` draws a typed batch of parameters from an explicit generator; ``apply`` is a
    pure, differentiable function of images and parameters, so saved parameters replay the
    same images.
    """

    kind = "transform"

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Params:
        """Draw parameters for n samples on the generator's device."""

    @abstractmethod
    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """Images (n, C, H, W) in [0, 1] and params of n samples -> images, same shape."""


def params_to_json(params: Params) -> dict[str, list]:
    """Params -> plain lists (JSON-serialisable); float64 keeps float32 values exact."""
    return {k: v.detach().cpu().double().tolist() for k, v in params.items()}


def params_from_json(data: dict[str, list], device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> Params:
    """The inverse of :func:`params_to_json`."""
    return {k: torch.tensor(v, dtype=dtype, device=device) for k, v in data.items()}
