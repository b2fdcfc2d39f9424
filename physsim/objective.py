"""The objective the core hands to attacks: perturbable tensor -> (EOT) -> classifier -> logits.

Without a renderer the tensor is an image batch fed straight to the model (S = 1). With one,
each call draws S fresh EOT samples from the objective's generator and renders every input
under each of them, so an attack's gradient is the Expectation over Transformation
(Athalye et al. 2017, arXiv:1707.07397). The S samples may be evaluated in chunks of C with the
gradient accumulated, so peak memory is bounded by C while the result equals one big batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from physsim.attack import LossFn


class Renderer(Protocol):
    """Turns the perturbable tensor into the images the classifier sees, under EOT params."""

    def sample(self, n: int, generator: torch.Generator) -> Any:
        """Draw parameters for n EOT samples."""
        ...

    def select(self, params: Any, index: slice) -> Any:
        """The parameters of samples ``index`` (for chunked evaluation)."""
        ...

    def render(self, x: torch.Tensor, params: Any) -> torch.Tensor:
        """(B, ...) inputs and params of n samples -> (B, n, 3, H, W) images in [0, 1]."""
        ...


class ClassifierObjective:
    """:class:`physsim.attack.Objective` over a classifier, with optional EOT.

    Args:
        model: images (N, 3, H, W) in [0, 1] -> logits (N, C).
        num_classes: C.
        renderer: the EOT renderer; None means x are already images (S = 1).
        samples: S, EOT samples per evaluation (ignored without a renderer).
        chunk: evaluate at most this many samples per forward pass (None: all at once).
        generator: drives EOT sampling; fixed seed, fixed sequence of samples.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        num_classes: int,
        renderer: Renderer | None = None,
        samples: int = 1,
        chunk: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.num_classes = num_classes
        self.renderer = renderer
        self.samples = samples if renderer is not None else 1
        self.chunk = chunk or self.samples
        self.generator = generator or torch.Generator().manual_seed(0)
        self.forwards = 0
        self.backwards = 0
        self.queries = 0

    def _logits_of(self, x: torch.Tensor, params: Any) -> torch.Tensor:
        images = x.unsqueeze(1) if self.renderer is None else self.renderer.render(x, params)
        b, s = images.shape[:2]
        self.forwards += 1
        self.queries += b * s
        return self.model(images.flatten(0, 1)).view(b, s, -1)

    def _chunks(self) -> list[Any]:
        if self.renderer is None:
            return [None]
        params = self.renderer.sample(self.samples, self.generator)
        return [
            self.renderer.select(params, slice(i, min(i + self.chunk, self.samples)))
            for i in range(0, self.samples, self.chunk)
        ]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._logits_of(x, p) for p in self._chunks()], dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.logits(x)

    def value_and_grad(
        self, x: torch.Tensor, loss_fn: LossFn
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # one leaf for every chunk, sharing x's memory (no copy per chunk, and none at all but
        # for a tensor made under inference mode, which cannot take a gradient); a chunk's
        # gradient is freed once added, so that only its graph's memory grows with the chunk
        x = (x.clone() if x.is_inference() else x.detach()).requires_grad_(True)
        grad = torch.zeros_like(x)
        loss = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        outs = []
        for params in self._chunks():
            logits = self._logits_of(x, params)
            part = loss_fn(logits).sum(1) / self.samples
            (g,) = torch.autograd.grad(part.sum(), x)
            self.backwards += 1
            grad += g
            del g
            loss += part.detach()
            outs.append(logits.detach())
        return loss, grad, torch.cat(outs, dim=1)
