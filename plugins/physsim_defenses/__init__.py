"""physsim_defenses: the built-in defense catalogue.

Input transformations (``jpeg_defense``, ``bit_depth``, ``median_filter``, ``threshold``,
``magnet_reformer``, ``defense_gan``), detectors (``magnet_detector``, ``ml_loo``,
``attribution_mask``) and training-time model transformations that load shipped weights
(``adv_train_fgsm``, ``adv_train_pgd``, ``adv_train_ensemble``, ``adv_train_physical``,
``distillation``, ``label_smoothing``). Weights are trained by ``scripts/train_defenses.py``.
How to evaluate them honestly (adaptive attacks, BPDA, EOT) is :mod:`physsim.defense_eval`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from physsim.hookspecs import hookimpl


@hookimpl
def register_defenses(register: Callable[[Any], None]) -> None:
    from physsim_defenses.attribution import MLLOO, AttributionMask
    from physsim_defenses.defense_gan import DefenseGAN
    from physsim_defenses.magnet import MagNetDetector, MagNetReformer
    from physsim_defenses.squeeze import BitDepth, JpegDefense, MedianFilter, Threshold
    from physsim_defenses.trained import (
        AdvTrainEnsemble,
        AdvTrainFGSM,
        AdvTrainPGD,
        AdvTrainPhysical,
        Distillation,
        LabelSmoothing,
    )

    for cls in (AdvTrainFGSM, AdvTrainPGD, AdvTrainEnsemble, AdvTrainPhysical, Distillation,
                LabelSmoothing, JpegDefense, BitDepth, MedianFilter, Threshold, MagNetDetector,
                MagNetReformer, DefenseGAN, MLLOO, AttributionMask):
        register(cls)
