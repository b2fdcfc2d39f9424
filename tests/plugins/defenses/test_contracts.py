"""Every registered defense keeps physsim's defense contract."""

from __future__ import annotations

from typing import ClassVar

import torch
from physsim_defenses.attribution import MLLOO, AttributionMask
from physsim_defenses.defense_gan import DefenseGAN
from physsim_defenses.magnet import MagNetDetector, MagNetReformer
from physsim_defenses.squeeze import BitDepth, JpegDefense, MedianFilter, Threshold
from physsim_defenses.trained import (
    AdvTrainEnsemble,
    AdvTrainFGSM,
    AdvTrainPGD,
    Distillation,
    LabelSmoothing,
)
from physsim_digits import load_digits_split
from physsim_digits.classifier import DigitsClassifier

from physsim.classifier import Classifier
from physsim.plugins import get_defenses
from physsim.testing import DefenseContract


class DigitsContract(DefenseContract):
    """The contract on the shipped digits classifier and test digits (what the trained
    defenses have weights for)."""

    def make_classifier(self) -> Classifier:
        return DigitsClassifier.create()

    def make_images(self, n: int = 40) -> torch.Tensor:
        return load_digits_split("test")[0][:n]


class TestJpeg(DefenseContract):
    defense_class = JpegDefense


class TestJpegIdentityBPDA(DefenseContract):
    defense_class = JpegDefense
    options: ClassVar[dict] = {"quality": 20, "bpda": "identity"}


class TestBitDepth(DefenseContract):
    defense_class = BitDepth


class TestMedian(DefenseContract):
    defense_class = MedianFilter


class TestThreshold(DefenseContract):
    defense_class = Threshold


class TestMagNetDetector(DefenseContract):
    defense_class = MagNetDetector


class TestMagNetReformer(DefenseContract):
    defense_class = MagNetReformer


class TestDefenseGAN(DefenseContract):
    defense_class = DefenseGAN
    options: ClassVar[dict] = {"steps": 10, "restarts": 2}


class TestMLLOO(DefenseContract):
    defense_class = MLLOO


class TestMLLOODigits(DigitsContract):
    defense_class = MLLOO


class TestAttributionMask(DefenseContract):
    defense_class = AttributionMask


class TestAttributionMaskDigits(DigitsContract):
    defense_class = AttributionMask


class TestAdvTrainFGSM(DigitsContract):
    defense_class = AdvTrainFGSM


class TestAdvTrainPGD(DigitsContract):
    defense_class = AdvTrainPGD


class TestAdvTrainEnsemble(DigitsContract):
    defense_class = AdvTrainEnsemble


class TestDistillation(DigitsContract):
    defense_class = Distillation


class TestLabelSmoothing(DigitsContract):
    defense_class = LabelSmoothing


def test_the_catalogue_is_registered() -> None:
    names = set(get_defenses())
    assert {"adv_train_fgsm", "adv_train_pgd", "adv_train_ensemble", "adv_train_physical",
            "distillation", "label_smoothing", "jpeg_defense", "bit_depth", "median_filter",
            "threshold", "magnet_detector", "magnet_reformer", "defense_gan", "ml_loo",
            "attribution_mask"} <= names
