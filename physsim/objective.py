"""The objective the core hands to attacks: perturbable tensor -> (EOT) -> classifier -> logits.

Without a renderer the tensor is an image batch fed straight to the model (S = 1). With one,
each call draws S fresh EOT samples from the objective's generator and renders every input
under each of them, so an attack's gradient is the Expectation over Transformation
(Athalye et al. 2017, arXiv:1707.07397). The S samples may be evaluated in chunks of C with the
gradient accumulated, so peak memory is bounded by C while the result equals one big batch.

A renderer that can also prepare its params (:meth:`physsim.eot.Pipeline.prepare_many`) has
the texture-independent part of several calls' renders worked out at once (a lookahead): the
same params are drawn, in the same order, and the same images rendered (to float rounding),
in less time when the windows are small.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class PreparingRenderer(Renderer, Protocol):
    """A renderer that can also work out the texture-independent part of its renders ahead."""

    def prepare_many(self, batches: Sequence[Any], texture_size: tuple[int, int]) -> list[Any]:
        """Each batch of params prepared for textures of ``texture_size`` (height, width):
        what :meth:`select` and :meth:`render` take in place of its params, with the same
        result."""
        ...


#: The most calls a lookahead prepares at once, and the most window pixels (of all their
#: samples together) it prepares: each keeps about 50 bytes until its call (where to sample
#: the texture, the background, the sensor noise), so at most about 6.5 MB. That is 16 calls
#: at 32 px and 8 samples, 4 at 64 px, and none at 224 px, where the windows' arithmetic, not
#: the number of operations, is the cost and a lookahead gains nothing.
LOOKAHEAD_CALLS = 16
LOOKAHEAD_PIXELS = 1 << 17


def lookahead_calls(renderer: Any, samples: int) -> int:
    """How many calls' samples an objective prepares at once with ``renderer`` (1: none)."""
    size = getattr(renderer, "output_size", None)
    if not isinstance(renderer, PreparingRenderer) or size is None:
        return 1
    per_call = samples * int(size[0]) * int(size[1])
    return max(1, min(LOOKAHEAD_CALLS, LOOKAHEAD_PIXELS // per_call))


class ClassifierObjective:
    """:class:`physsim.attack.Objective` over a classifier, with optional EOT.

    Args:
        model: images (N, 3, H, W) in [0, 1] -> logits (N, C).
        num_classes: C.
        renderer: the EOT renderer; None means x are already images (S = 1).
        samples: S, EOT samples per evaluation (ignored without a renderer).
        chunk: evaluate at most this many samples per forward pass (None: all at once).
        generator: drives EOT sampling; fixed seed, fixed sequence of samples.
        lookahead: how many calls' samples to prepare at once, when the renderer can
            (``prepare_many``, as :class:`physsim.eot.Pipeline`); None: as many as
            :func:`lookahead_calls` allows, or none when the samples are evaluated in chunks
            (chunks bound memory, which preparing ahead would add to). Anything else reading
            or drawing from ``generator`` between calls sees it as if each call drew its own
            samples.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        num_classes: int,
        renderer: Renderer | None = None,
        samples: int = 1,
        chunk: int | None = None,
        generator: torch.Generator | None = None,
        lookahead: int | None = None,
    ) -> None:
        self.model = model
        self.num_classes = num_classes
        self.renderer = renderer
        self.samples = samples if renderer is not None else 1
        self.chunk = chunk or self.samples
        self.generator = generator or torch.Generator().manual_seed(0)
        if lookahead is None:
            lookahead = (lookahead_calls(renderer, self.samples)
                         if self.chunk >= self.samples else 1)
        self.lookahead = max(1, int(lookahead))
        self._preparer = renderer if isinstance(renderer, PreparingRenderer) else None
        if self._preparer is None:
            self.lookahead = 1
        self.forwards = 0
        self.backwards = 0
        self.queries = 0
        # prepared calls ahead: (generator state before the call's draw, after it, prepared)
        self._ahead: deque[tuple[torch.Tensor, torch.Tensor, Any]] = deque()
        self._ahead_size: tuple[int, ...] = ()
        # how many calls the next refill prepares: halved each time something else moved the
        # generator since the last call (prepared calls are then thrown away), doubled, up to
        # ``lookahead``, each time all were used and nothing did
        self._ahead_calls = self.lookahead
        self._last_after: torch.Tensor | None = None

    def _logits_of(self, x: torch.Tensor, params: Any) -> torch.Tensor:
        images = x.unsqueeze(1) if self.renderer is None else self.renderer.render(x, params)
        b, s = images.shape[:2]
        self.forwards += 1
        self.queries += b * s
        return self.model(images.flatten(0, 1)).view(b, s, -1)

    def _chunks(self, x: torch.Tensor) -> list[Any]:
        if self.renderer is None:
            return [None]
        if self.lookahead > 1:
            params = self._prepared(tuple(x.shape[-2:]))
        else:
            params = self.renderer.sample(self.samples, self.generator)
        if self.chunk >= self.samples:
            return [params]
        return [
            self.renderer.select(params, slice(i, min(i + self.chunk, self.samples)))
            for i in range(0, self.samples, self.chunk)
        ]

    def _prepared(self, size: tuple[int, ...]) -> Any:
        """This call's samples, prepared for textures of ``size``: the next of the lookahead,
        drawn afresh (with the next calls') when there is none, or when the generator is not
        where the lookahead left it (something else drew from it, or set its state)."""
        gen, ahead, renderer = self.generator, self._ahead, self._preparer
        assert renderer is not None
        state = gen.get_state()
        if not ahead or size != self._ahead_size or not torch.equal(ahead[0][0], state):
            moved = self._last_after is not None and not torch.equal(state, self._last_after)
            if moved:
                self._ahead_calls = max(1, self._ahead_calls // 2)
            elif not ahead and self._last_after is not None:  # all used
                self._ahead_calls = min(self.lookahead, self._ahead_calls * 2)
            ahead.clear()
            if self._ahead_calls == 1:  # nothing to prepare ahead: the render prepares
                params = renderer.sample(self.samples, gen)
                self._last_after = gen.get_state()
                return params
            # the draws as the calls would make them, one after the other; prepared as one
            # batch, outside any inference mode (the tensors are kept for later calls)
            with torch.inference_mode(False), torch.no_grad():
                states, draws = [state], []
                try:
                    for _ in range(self._ahead_calls):
                        draws.append(renderer.sample(self.samples, gen))
                        states.append(gen.get_state())
                    parts = renderer.prepare_many(draws, (size[0], size[1]))
                except BaseException:
                    # as if this call alone had drawn (and then failed), not the next ones
                    gen.set_state(states[min(1, len(states) - 1)])
                    raise
            ahead.extend((states[i], states[i + 1], part) for i, part in enumerate(parts))
            self._ahead_size = size
        _, after, prepared = ahead.popleft()
        gen.set_state(after)
        self._last_after = after
        return prepared

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._logits_of(x, p) for p in self._chunks(x)], dim=1)

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
        grad: torch.Tensor | None = None
        loss: torch.Tensor | None = None
        outs = []
        for params in self._chunks(x):
            logits = self._logits_of(x, params)
            part = loss_fn(logits).sum(1) / self.samples
            (g,) = torch.autograd.grad(part.sum(), x)
            self.backwards += 1
            # the first chunk's gradient is the sum so far (a texture-sized zero-fill and
            # addition less per step); a broadcast one is made a tensor of its own
            if grad is None:
                grad = g if g.is_contiguous() else g.contiguous()
            else:
                grad += g
            del g
            # (in x's dtype, as a sum from zero in it would be)
            loss = part.detach().to(x.dtype) if loss is None else loss + part.detach()
            outs.append(logits.detach())
        assert grad is not None and loss is not None
        return loss, grad, outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
