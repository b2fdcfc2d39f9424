"""Feature-attribution detectors: adversarial inputs have unusual attributions.

- ``ml_loo`` (Yang, Chen, Hsieh, Wang and Jordan 2019, arXiv:1906.03499): the leave-one-out
  attribution of each feature (how much the predicted class's probability drops when the
  feature is blanked) is more dispersed on adversarial inputs; the score is the
  inter-quartile range of those attributions. This is the output-layer statistic; the paper's
  multi-layer variant adds the same statistic on hidden layers through a logistic regression.
- ``attribution_mask`` (Jha, Jang, Zhang, Jha and others 2019, "Attribution-driven causal
  analysis for detection of adversarial examples", arXiv:1903.05821): blank the top 10% of
  features by integrated-gradients attribution and flag the input when the label changes.
  The score is the margin by which the label changes (positive: changed), so its threshold
  can be calibrated to a false-positive rate like every detector's; 0 is the paper's rule.

Features are the cells of a ``grid`` x ``grid`` partition of the image (single pixels for the
8 x 8 digits), all channels together, blanked to 0.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from physsim.classifier import Classifier
from physsim.defense import Detector
from physsim.options import Options as OptionsModel


def cell_masks(size: tuple[int, int], grid: int, device: torch.device) -> torch.Tensor:
    """(F, 1, H, W) one-hot masks of the F = g_h * g_w cells of the image (g <= grid)."""
    h, w = size
    gh, gw = min(grid, h), min(grid, w)
    rows = torch.arange(h, device=device) * gh // h
    cols = torch.arange(w, device=device) * gw // w
    cell = (rows.view(-1, 1) * gw + cols.view(1, -1)).view(1, h, w)
    return (cell == torch.arange(gh * gw, device=device).view(-1, 1, 1)).float().unsqueeze(1)


def loo_attributions(x: torch.Tensor, classifier: Classifier, grid: int) -> torch.Tensor:
    """Leave-one-out attributions of the predicted class's probability: (B, F).

    All B * F blanked images go through the classifier as one batch (differentiable in x).
    """
    masks = cell_masks(tuple(x.shape[-2:]), grid, x.device).to(x.dtype)  # type: ignore[arg-type]
    b, f = x.shape[0], masks.shape[0]
    probs = classifier(x).softmax(-1)
    pred = probs.argmax(-1, keepdim=True)
    blanked = (x.unsqueeze(1) * (1 - masks.unsqueeze(0))).flatten(0, 1)
    p_blank = classifier(blanked).softmax(-1).view(b, f, -1)
    own = p_blank.gather(2, pred.view(b, 1, 1).expand(b, f, 1)).squeeze(2)
    return probs.gather(1, pred) - own


class MLLOO(Detector):
    """ML-LOO's dispersion statistic: the IQR of the leave-one-out attributions."""

    name = "ml_loo"

    class Options(OptionsModel):
        grid: int = Field(8, ge=2, le=64, description="features per side (cells of the image)")

    options: Options

    def score(self, x: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        a = loo_attributions(x, classifier, self.options.grid)
        q = torch.quantile(a, torch.tensor([0.25, 0.75], dtype=a.dtype, device=a.device), dim=1)
        return q[1] - q[0]


def integrated_gradients(x: torch.Tensor, classifier: Classifier, target: torch.Tensor,
                         steps: int) -> torch.Tensor:
    """Integrated gradients from the black baseline (Sundararajan et al. 2017,
    arXiv:1703.01365), midpoint rule, all steps in one batch: (B, C, H, W), detached."""
    alphas = (torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps
    with torch.enable_grad():
        path = (alphas.view(-1, 1, 1, 1, 1) * x.detach().unsqueeze(0)).flatten(0, 1)
        path.requires_grad_(True)
        logits = classifier(path)
        own = logits.gather(1, target.repeat(steps).view(-1, 1))
        (grad,) = torch.autograd.grad(own.sum(), path)
    return grad.view(steps, *x.shape).mean(0) * x.detach()


class AttributionMask(Detector):
    """Jha et al. 2019: blank the most-attributed features; flag if the label changes."""

    name = "attribution_mask"

    class Options(OptionsModel):
        fraction: float = Field(0.1, gt=0, lt=1, description="share of features blanked")
        grid: int = Field(8, ge=2, le=64, description="features per side (cells of the image)")
        steps: int = Field(16, ge=1, description="integrated-gradients steps")

    options: Options

    def score(self, x: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        o = self.options
        with torch.no_grad():
            pred = classifier(x).argmax(-1)
        masks = cell_masks(tuple(x.shape[-2:]), o.grid, x.device).to(x.dtype)  # type: ignore[arg-type]
        attr = integrated_gradients(x, classifier, pred, o.steps).sum(1)  # (B, H, W)
        per_cell = torch.einsum("bhw,fhw->bf", attr, masks[:, 0])
        k = max(1, math.ceil(o.fraction * masks.shape[0]))
        top = per_cell.topk(k, dim=1).indices  # (B, k)
        blank = masks[top].sum(1).clamp(max=1)  # (B, 1, H, W)
        # the mask is fixed (chosen without gradient); the margin stays differentiable in x
        logits = classifier(x * (1 - blank))
        own = logits.gather(1, pred.view(-1, 1)).squeeze(1)
        other = logits.scatter(1, pred.view(-1, 1), float("-inf")).amax(1)
        return other - own
