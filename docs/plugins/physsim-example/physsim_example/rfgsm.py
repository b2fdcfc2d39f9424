"""R+FGSM: a random step, then one fast-gradient-sign step from there.

Tramèr, Kurakin, Papernot, Goodfellow, Boneh and McDaniel, 2017, "Ensemble Adversarial
Training: Attacks and Defenses", arXiv:1705.07204, Section 4.1. FGSM's single step can be
blunted by a loss surface that curves sharply around the data point (gradient masking); a small
random step first escapes that neighbourhood:

    x' = x + alpha * sign(N(0, I))
    x_adv = clip_[0,1](x' - (eps - alpha) * sign(grad_x' L(x')))

where ``L`` is the goal's loss to minimise (so the step goes against its gradient), and the
L-inf distance to ``x`` stays within ``alpha + (eps - alpha) = eps``.
"""

from __future__ import annotations

import torch
from physsim.attack import Attack, AttackResult, Budget, Callback, Goal, Objective
from physsim.options import Options as OptionsModel
from physsim.perturbation import feasible, randn, steepest_direction
from pydantic import Field


def r_fgsm(
    objective: Objective,
    x0: torch.Tensor,
    goal: Goal,
    eps: float,
    alpha: float,
    generator: torch.Generator,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run R+FGSM once.

    Args:
        objective: the differentiable objective physsim hands to attacks.
        x0: (B, ...) clean inputs in [0, 1].
        goal: untargeted, targeted or least-likely (resolved); supplies the loss to minimise.
        eps: L-inf radius in [0, 1] image units.
        alpha: the random step, ``0 <= alpha < eps`` (the paper uses ``eps / 2``); 0 gives FGSM.
        generator: draws the random step's direction.
        mask: broadcastable to ``x0``; 1 where the input may change.

    Returns:
        ``(x_adv, loss)``: (B, ...) adversarial inputs in [0, 1] with
        ``|x_adv - x0|_inf <= eps`` and zero change outside the mask, and the (B,) loss at the
        random point ``x'``.
    """
    noise = randn(x0.shape, generator, like=x0)
    # feasible() masks, projects onto the ball and clamps to [0, 1]: the invariants stay kept
    delta = feasible(alpha * noise.sign(), x0, "linf", alpha, mask)
    loss, grad, _ = objective.value_and_grad(x0 + delta, goal.loss)
    delta = delta - (eps - alpha) * steepest_direction(grad, "linf")
    delta = feasible(delta, x0, "linf", eps, mask)
    return x0 + delta, loss


class RFGSM(Attack):
    """The ``rfgsm`` attack (L-inf, every goal mode): :func:`r_fgsm` as a physsim attack.

    It takes one gradient, so ``budget.steps`` and ``early_stop`` do not apply.
    """

    name = "rfgsm"
    norms = ("linf",)

    class Options(OptionsModel):
        """Options of ``rfgsm``; unknown keys are rejected."""

        alpha: float = Field(
            0.5, ge=0.0, lt=1.0,
            description="the random step as a fraction of eps (the paper: 0.5)",
        )

    options: Options  # narrows Component.options to this schema

    def total_steps(self, budget: Budget) -> int:
        return 1  # one gradient step, one callback call

    def perturb(
        self,
        objective: Objective,
        x0: torch.Tensor,
        goal: Goal,
        budget: Budget,
        *,
        mask: torch.Tensor | None,
        generator: torch.Generator,
        callback: Callback | None,
        early_stop: bool,
    ) -> AttackResult:
        # the objective may have been used before: report this attack's own passes
        start = (objective.forwards, objective.backwards, objective.queries)
        alpha = self.options.alpha * budget.eps
        x_adv, loss = r_fgsm(objective, x0, goal, budget.eps, alpha, generator, mask)
        success = goal.success(objective.predict(x_adv))
        if callback is not None:
            callback(0, x_adv, loss)
        return AttackResult(
            x_adv=x_adv,
            perturbation=x_adv - x0,
            success=success,
            loss_history=[float(loss.mean())],
            forwards=objective.forwards - start[0],
            backwards=objective.backwards - start[1],
            queries=objective.queries - start[2],
        )
