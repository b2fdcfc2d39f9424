"""The targeted goal-vector attack: read as the target class, look like ``x_target``.

The formulation ``C(x) = 1/2 ||y_goal - f(x)||^2 + lambda ||x - x_target||^2`` comes from the
ML@Berkeley tutorial "Tricking Neural Networks: Create your own Adversarial Examples" (Geng &
Veerapaneni, 2018; a blog post without an arXiv id), a softmax-space variant of the penalised
targeted attack of Szegedy et al. (2013, arXiv:1312.6199). The classic demonstration: a digit
that looks like a 2 but is read as a 5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import ConfigDict, Field

from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.errors import UserError
from physsim.options import Options
from physsim.perturbation import steepest_direction
from physsim_attacks._common import counts, finish, iterate


class GoalVectorOptions(Options):
    """Options of ``goal_vector``.

    Attributes:
        lam: the weight lambda of ``||x - x_target||^2`` (key ``lambda`` in scene files).
        x_target: path of the image x should look like (PNG/JPEG, or ``.npy`` float (H, W, 3)
            or (3, H, W) in [0, 1]); resized to x0. None (default) means x0 itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    lam: float = Field(0.05, ge=0.0, alias="lambda")
    x_target: str | None = None


def load_target(path: str | Path, like: torch.Tensor, where: str) -> torch.Tensor:
    """Read the image ``path`` as a (B, 3, H, W) tensor in [0, 1] shaped like ``like``."""
    p = Path(path)
    if like.ndim != 4 or like.shape[1] != 3:
        raise UserError(f"x_target needs x0 of shape (B, 3, H, W), got {tuple(like.shape)}",
                        where)
    if not p.is_file():
        raise UserError(f"x_target: no such file {str(p)!r}", where)
    if p.suffix.lower() == ".npy":
        arr = np.load(p).astype(np.float32)
    else:
        import cv2  # OpenCV is only needed for this option

        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"x_target: cannot read {str(p)!r} as an image", where)
        arr = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr.transpose(2, 0, 1)
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.min() < 0 or arr.max() > 1:
        raise UserError(f"x_target: {str(p)!r} is not an RGB image with values in [0, 1]",
                        where)
    img_t = torch.from_numpy(np.ascontiguousarray(arr))[None].to(like.device, like.dtype)
    img_t = F.interpolate(img_t, size=like.shape[-2:], mode="bilinear", align_corners=False,
                          antialias=True).clamp(0, 1)
    return img_t.expand_as(like)


def goal_vector(objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget, *,
                mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
                callback: Callback | None = None, early_stop: bool = False,
                lam: float = 0.05, x_target: torch.Tensor | None = None) -> AttackResult:
    """Minimise ``1/2 ||y_goal - softmax(Z(x))||^2 + lam ||x - x_target||^2`` from x0.

    ``y_goal`` is the one-hot vector of the target class; the first term is averaged over the
    EOT samples. Steepest-descent steps of ``budget.alpha`` (sign steps for "linf", normalised
    gradient for "l2"; 0.01 when eps is infinite and no step size is given), each followed by
    the projection onto the eps ball around x0 (``eps = inf``: only the [0, 1] box, as in the
    original), the mask and [0, 1].

    Shape:
        - x0: (B, ...) (images, textures or patches), values in [0, 1]; mask broadcastable to it.
        - Output: ``x_adv`` and ``perturbation`` shaped like x0, ``success`` (B,) bool.

    Args:
        objective: the core's objective; logits (B, S, C).
        x0: (B, ...) clean inputs in [0, 1]; the starting point.
        goal: resolved targeted or least-likely goal.
        budget: "linf" or "l2"; eps (``inf`` allowed), steps, step size.
        mask: broadcastable to ``x0``; 1 where the attack may act.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: ``callback(step, x (B, ...), loss (B,))`` after each step; True stops.
        early_stop: freeze each input once it is read as the target.
        lam: weight of the look-alike term.
        x_target: (B, ...) or broadcastable, in [0, 1]; None means x0.

    Returns:
        :class:`AttackResult`; ``loss_history`` holds the goal-vector term only.
    """
    start = counts(objective)
    target_img = x0 if x_target is None else x_target.to(x0).expand_as(x0)
    alpha = budget.alpha if budget.eps != float("inf") else (budget.step_size or 0.01)

    def vector_loss(g: Goal, logits: torch.Tensor) -> torch.Tensor:
        y_goal = F.one_hot(g.class_index().to(logits.device), logits.shape[-1]).to(logits)
        return 0.5 * (y_goal[:, None] - logits.softmax(-1)).pow(2).sum(-1)

    def update(delta: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        total = grad + 2 * lam * (x0[rows] + delta - target_img[rows])
        return delta - alpha * steepest_direction(total, budget.norm)

    delta, history, _ = iterate(objective, x0, goal, budget, torch.zeros_like(x0), update,
                             loss=vector_loss, mask=mask, callback=callback,
                             early_stop=early_stop)
    return finish(objective, x0, x0 + delta, goal, start, history)


class GoalVector(Attack):
    """The goal-vector attack (Geng & Veerapaneni 2018, after Szegedy et al. 2013,
    arXiv:1312.6199): targeted, and the result looks like ``x_target`` (default x0)."""

    name = "goal_vector"
    norms = ("linf", "l2")
    modes = ("targeted", "least_likely")
    Options = GoalVectorOptions

    def perturb(self, objective: Objective, x0: torch.Tensor, goal: Goal, budget: Budget,
                **kwargs: Any) -> AttackResult:
        opts: Any = self.options
        target = None
        if opts.x_target is not None:
            target = load_target(opts.x_target, x0, f"attack {self.name!r} options")
        return goal_vector(objective, x0, goal, budget, lam=opts.lam, x_target=target,
                           **kwargs)
