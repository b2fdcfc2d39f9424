"""MagNet (Meng and Chen 2017, arXiv:1705.09064): an autoencoder trained on clean images.

The detector flags inputs the autoencoder reconstructs badly (far from the data manifold);
the reformer replaces every input by its reconstruction (pulled back onto the manifold).
Carlini and Wagner (2017, arXiv:1711.08478) broke both by attacking through the
autoencoder, which is differentiable: the adaptive attack here does the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import field_validator
from torch import nn

from physsim.classifier import Classifier
from physsim.defense import Detector, InputTransform
from physsim.options import Options
from physsim_defenses._weights import check_input_size, load_domain_net, to_device
from physsim_defenses.nets import DOMAINS, Domain, MagNetAE


class DomainOptions(Options):
    """Options of defenses built on a network trained for one image domain.

    Attributes:
        domain: the image domain whose network to load (shipped: "digits").
        weights: a ``.pt`` file to use instead of the shipped one (its ``.json`` beside it).
    """

    domain: str = "digits"
    weights: Path | None = None

    @field_validator("domain")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DOMAINS:
            raise ValueError(f"unknown domain {v!r} (known: {', '.join(sorted(DOMAINS))})")
        return v


class DomainNet:
    """Mixin: lazily loads the domain network ``file_prefix`` and checks the classifier."""

    name: ClassVar[str]
    options: Any
    #: the weight file prefix (``magnet`` for ``magnet-digits.pt``)
    file_prefix: ClassVar[str] = ""
    #: the metadata of the loaded network (after :meth:`network`)
    meta: dict[str, Any]

    def network(self, device: torch.device | None = None) -> nn.Module:
        net: nn.Module | None = getattr(self, "_net", None)
        if net is None:
            net, self.meta = load_domain_net(self.file_prefix, self.options.domain,
                                             self.build, self.options.weights)
            self._net = net
        if device is not None:
            self._net = to_device(net, device)
        return self._net

    def build(self, meta: dict[str, Any]) -> nn.Module:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def domain(self) -> Domain:
        return DOMAINS[self.options.domain]

    def check(self, classifier: Classifier) -> None:
        """Load the weights and check they fit ``classifier``'s input (before any work)."""
        self.network()
        check_input_size(self.name, self.domain.input_size, classifier)


class MagNetOptions(DomainOptions):
    """Attributes:
        p: the reconstruction error's norm: mean |x - AE(x)|^p over the pixels.
    """

    p: Literal[1, 2] = 1


class MagNetDetector(DomainNet, Detector):
    """MagNet's reconstruction-error detector: score = mean ``|x - AE(x)|^p``."""

    name = "magnet_detector"
    file_prefix = "magnet"
    Options = MagNetOptions
    options: MagNetOptions

    def build(self, meta: dict[str, Any]) -> nn.Module:
        return MagNetAE.from_meta(meta)

    def score(self, x: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        v = self.domain.to_net(x)
        err = (v - self.network(x.device)(v)).abs().pow(self.options.p)
        return err.flatten(1).mean(1)


class MagNetReformer(DomainNet, InputTransform):
    """MagNet's reformer: the classifier sees ``AE(x)``. Differentiable, so BPDA is the
    autoencoder itself (what Carlini and Wagner 2017 attacked through)."""

    name = "magnet_reformer"
    file_prefix = "magnet"
    Options = DomainOptions
    options: DomainOptions

    def build(self, meta: dict[str, Any]) -> nn.Module:
        return MagNetAE.from_meta(meta)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.domain.from_net(self.network(x.device)(self.domain.to_net(x)))

    def approximate(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x)
