"""Black-box attack through a substitute model trained with Jacobian-based dataset augmentation
(Papernot, McDaniel, Goodfellow, Jha, Celik & Swami 2017, arXiv:1602.02697)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import ConfigDict, Field
from torch import nn

from physsim.attack import AttackResult, Budget, Callback, Goal, Objective
from physsim.objective import ClassifierObjective
from physsim.options import Options
from physsim.perturbation import apply_mask, rand
from physsim_attacks._common import (
    KernelAttack,
    counts,
    finish,
    mean_log_probs,
    predict_batched,
    require_finite_eps,
)
from physsim_attacks.fgsm import fgsm
from physsim_attacks.pgd import pgd


class SubstituteOptions(Options):
    """Options of ``substitute``.

    Attributes:
        architecture: "cnn" (two conv layers; needs (C, H, W) inputs) or "mlp".
        hidden: width of the hidden fully connected layers.
        rounds: substitute training epochs rho: augmentations of the set (6 in the paper).
        lam: the augmentation step lambda (key ``lambda``; 0.1 in the paper).
        tau: flip the sign of lambda every tau rounds (the paper's periodic step size);
            None keeps it fixed.
        reservoir: at most this many new points per round (the paper's reservoir sampling);
            None keeps them all (the set doubles every round).
        epochs: training epochs on the set per round.
        lr: Adam learning rate of the substitute.
        transfer: the white-box attack run on the substitute: "fgsm" or "pgd" (the budget's
            steps and step size).
        batch_size: queries per ``predict`` call and the training minibatch size.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    architecture: Literal["cnn", "mlp"] = "cnn"
    hidden: int = Field(64, ge=1)
    rounds: int = Field(4, ge=0)
    lam: float = Field(0.1, gt=0.0, alias="lambda")
    tau: int | None = Field(None, ge=1)
    reservoir: int | None = Field(None, ge=1)
    epochs: int = Field(20, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    transfer: Literal["fgsm", "pgd"] = "fgsm"
    batch_size: int = Field(64, ge=1)


def build_substitute(shape: tuple[int, ...], classes: int, architecture: str, hidden: int,
                     generator: torch.Generator, like: torch.Tensor) -> nn.Module:
    """A small network over inputs of ``shape`` (without batch), initialised from ``generator``.

    Every weight is drawn uniformly in +-1/sqrt(fan_in) from the attack's generator, so the
    substitute (and the whole attack) is reproducible under a seed.
    """
    if architecture == "cnn" and len(shape) == 3:
        c = shape[0]
        net: nn.Module = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, hidden),
            nn.ReLU(), nn.Linear(hidden, classes))
    else:
        n = math.prod(shape)
        net = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(),
                            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    net = net.to(device=like.device, dtype=like.dtype)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else p.numel()
            bound = 1 / math.sqrt(fan_in)
            p.copy_((2 * rand(p.shape, generator, like=p) - 1) * bound)
    return net


def _oracle(objective: Objective, x: torch.Tensor, batch: int) -> torch.Tensor:
    """The victim's label for each input: argmax of the EOT-mean softmax (counted queries)."""
    return mean_log_probs(predict_batched(objective, x, batch)).argmax(1)


def _train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
           batch: int, generator: torch.Generator) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator, device=generator.device)
            for idx in order.to(x.device).split(batch):
                opt.zero_grad()
                F.cross_entropy(net(x[idx]), y[idx]).backward()
                opt.step()


def _augment(net: nn.Module, x: torch.Tensor, y: torch.Tensor, lam: float,
             mask: torch.Tensor | None) -> torch.Tensor:
    """``x + lam * sign(d F_y(x) / dx)``: one Jacobian step towards each oracle label."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(xg).gather(1, y.view(-1, 1)).sum(), xg)
    return (x + apply_mask(lam * grad.sign(), mask)).clamp(0, 1)


def substitute(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
               mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
               callback: Callback | None = None, early_stop: bool = False,
               architecture: str = "cnn", hidden: int = 64, rounds: int = 4, lam: float = 0.1,
               tau: int | None = None, reservoir: int | None = None, epochs: int = 20,
               lr: float = 1e-3, transfer: str = "fgsm", batch_size: int = 64) -> AttackResult:
    """Train a substitute on the victim's labels, attack it white-box, transfer (Papernot et al.).

    The initial set is x0 itself, labelled by the victim through ``objective.predict``
    (argmax of the softmax averaged over the EOT samples; every query is counted). Each of
    ``rounds`` rounds trains the substitute, then adds ``x + lambda * sign(J_F[O(x)])`` for
    every point (the Jacobian of the substitute's logit for the victim's label), labelled by
    the victim. The final substitute is attacked with FGSM or PGD under ``budget``, and the
    result is judged on the victim. The victim's gradients are never used. Like the paper's,
    the method needs seeds from several classes: if the victim labels every input of x0 the
    same, a warning says the substitute cannot learn a boundary.

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the victim; only ``predict`` is called.
        x0: (B, ...) clean inputs in [0, 1]; also the seed set of the substitute.
        goal: resolved goal; any mode.
        budget: "linf" or "l2", finite eps; steps and step size for ``transfer="pgd"``.
        mask: broadcastable to ``x0``; 1 where the attack may act (augmentation too).
        generator: drives the substitute's weights, minibatches, reservoir and PGD start.
        callback: passed to the transfer attack (it sees the substitute's loss).
        early_stop: passed to the transfer attack (judged on the substitute).
        architecture, hidden, rounds, lam, tau, reservoir, epochs, lr, transfer, batch_size:
            see :class:`SubstituteOptions`.

    Returns:
        :class:`AttackResult` charged with the victim's queries; ``extras`` holds
        ``set_size`` and ``agreement`` (substitute vs victim labels on the final set).
    """
    require_finite_eps(budget, "substitute")
    gen = generator or torch.Generator(device=x0.device).manual_seed(0)
    start = counts(objective)
    net = build_substitute(tuple(x0.shape[1:]), objective.num_classes, architecture, hidden,
                           gen, x0)
    data, labels = x0.detach(), _oracle(objective, x0, batch_size)
    if labels.unique().numel() == 1:
        # the augmentation only explores around the seeds: with one label the substitute
        # never sees a decision boundary and its gradients carry no information
        warnings.warn("substitute: the victim gives every seed input one class; the "
                      "substitute cannot learn a boundary from them (seed with several classes)",
                      stacklevel=2)
    data_mask = mask
    for rnd in range(rounds + 1):
        _train(net, data, labels, epochs, lr, batch_size, gen)
        if rnd == rounds:
            break
        step = lam * (-1) ** (rnd // tau) if tau else lam
        new = _augment(net, data, labels, step, data_mask)
        new_mask = data_mask
        if reservoir is not None and len(new) > reservoir:
            keep = torch.randperm(len(new), generator=gen, device=gen.device)[:reservoir]
            new = new[keep.to(new.device)]
            new_mask = None if data_mask is None else data_mask[keep.to(new.device)]
        data = torch.cat([data, new])
        labels = torch.cat([labels, _oracle(objective, new, batch_size)])
        data_mask = None if data_mask is None or new_mask is None else torch.cat([data_mask,
                                                                                 new_mask])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        agreement = float((net(data).argmax(1) == labels).float().mean())
    local = ClassifierObjective(net, objective.num_classes)
    run = pgd if transfer == "pgd" else fgsm
    crafted = run(local, x0, goal, budget, mask=mask, generator=gen, callback=callback,
                  early_stop=early_stop)
    return finish(objective, x0, crafted.x_adv, goal, start, crafted.loss_history,
                  {"set_size": float(len(data)), "agreement": agreement})


class Substitute(KernelAttack):
    """Substitute-model black-box attack (Papernot et al. 2017, arXiv:1602.02697)."""

    name = "substitute"
    norms = ("linf", "l2")
    black_box = True
    Options = SubstituteOptions
    kernel = staticmethod(substitute)


    def total_steps(self, budget: Budget) -> int:
        opts: Any = self.options
        return budget.steps if opts.transfer == "pgd" else 1
