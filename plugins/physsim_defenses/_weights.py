"""Where defense weights live and how they load: one checked file per (defense, target).

Model transformations ship a classifier per base classifier (``adv_train_pgd-digits_cnn.pt``);
input-domain networks (MagNet's autoencoder, Defense-GAN's generator) ship one per image
domain (``magnet-digits.pt``). Every file sits beside its ``.json`` metadata with the sha256,
and loads with ``torch.load(weights_only=True)`` through :mod:`physsim_models.weights`, so a
missing, swapped or truncated file is one :class:`UserError` line before any work starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from physsim_models.weights import load_classifier, load_state_dict, metadata_path
from torch import nn

from physsim.classifier import Classifier
from physsim.errors import UserError


def weights_dir() -> Path:
    """The folder of the shipped defense weights (``physsim_defenses/weights``)."""
    return Path(str(files("physsim_defenses"))) / "weights"


def shipped(defense: str, target: str) -> Path:
    """The shipped weights of ``defense`` for ``target`` (a classifier or a domain name)."""
    return weights_dir() / f"{defense}-{target}.pt"


def classifier_name(classifier: Classifier) -> str:
    return classifier.name or type(classifier).__name__


def read_meta(path: Path, where: str) -> dict[str, Any]:
    """The metadata beside ``path``; missing or unreadable -> :class:`UserError`."""
    meta_file = metadata_path(path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"metadata file not found: {meta_file}", where) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read metadata {meta_file}: {exc}", where) from None
    if not isinstance(meta, dict) or "sha256" not in meta:
        raise UserError(f"metadata {meta_file} lacks a sha256", where)
    return meta


def load_defended_classifier(defense: str, classifier: Classifier,
                             weights: Path | None) -> Classifier:
    """The classifier ``defense`` trained from ``classifier``, from checked weights.

    Raises:
        UserError: no weights for this classifier, or they are corrupt, or they were trained
            for other classes or another input size.
    """
    where = f"defense {defense!r}"
    base = classifier_name(classifier)
    path = weights or shipped(defense, base)
    if not path.is_file():
        raise UserError(f"defense {defense!r} has no weights for classifier {base!r} "
                        f"(looked for {path})", where)
    meta = read_meta(path, where)
    if list(meta.get("classes", [])) != list(classifier.labels) or \
            tuple(meta.get("input_size", ())) != classifier.input_size:
        raise UserError(f"the weights {path.name} were trained for other classes or another "
                        f"input size than classifier {base!r}", where)
    defended = load_classifier(type(classifier), path, str(meta["architecture"]))
    return defended.to(classifier.mean.device)


def load_domain_net(defense: str, domain: str, build: Callable[[dict[str, Any]], nn.Module],
                    weights: Path | None) -> tuple[nn.Module, dict[str, Any]]:
    """The network of ``defense`` for image ``domain``, built from its metadata and filled
    with its checked weights.

    Args:
        defense: the registered name (file prefix and error context).
        domain: the image domain, e.g. "digits".
        build: metadata -> an untrained network of the recorded shape.
        weights: a file to use instead of the shipped one.

    Returns:
        (the network in eval mode with frozen parameters, its metadata).
    """
    where = f"defense {defense!r}"
    path = weights or shipped(defense, domain)
    if not path.is_file():
        raise UserError(f"no weights for domain {domain!r} (looked for {path})", where)
    meta = read_meta(path, where)
    state = load_state_dict(path, str(meta["sha256"]))
    net = build(meta)
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"the tensors in {path} do not fit the {defense} network", where) from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, meta


def check_input_size(defense: str, size: tuple[int, int], classifier: Classifier) -> None:
    """A domain network sees the classifier's input; different sizes cannot work together."""
    if tuple(size) != classifier.input_size:
        h, w = classifier.input_size
        raise UserError(f"works on {size[0]}x{size[1]} images but classifier "
                        f"{classifier_name(classifier)!r} takes {h}x{w}: incompatible",
                        f"defense {defense!r}")


def to_device(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` on ``device`` (domain networks load on the CPU; moved once when first used)."""
    p = next(net.parameters(), None)
    return net if p is None or p.device == device else net.to(device)
