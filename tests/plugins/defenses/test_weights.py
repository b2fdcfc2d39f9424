"""Weights of the training-time and domain defenses: present, checked, refused clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from physsim_defenses._weights import shipped
from physsim_defenses.defense_gan import DefenseGAN
from physsim_defenses.magnet import MagNetDetector, MagNetReformer
from physsim_defenses.trained import AdvTrainPGD, AdvTrainPhysical, Distillation

from physsim.classifier import Classifier
from physsim.errors import UserError
from physsim.testing import linear_toy_classifier


def _copy(defense: str, target: str, tmp_path: Path) -> Path:
    src = shipped(defense, target)
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_a_classifier_without_weights_is_refused_by_name() -> None:
    with pytest.raises(UserError, match="has no weights for classifier 'Classifier'"):
        AdvTrainPGD().apply(linear_toy_classifier())


def test_physical_training_needs_sign_weights(digits_cnn: Classifier) -> None:
    with pytest.raises(UserError, match="no weights for classifier 'digits_cnn'"):
        AdvTrainPhysical().apply(digits_cnn)


def test_corrupt_weights_fail_on_their_hash(tmp_path: Path, digits_cnn: Classifier) -> None:
    path = _copy("adv_train_pgd", "digits_cnn", tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256 mismatch"):
        AdvTrainPGD({"weights": path}).apply(digits_cnn)


def test_missing_metadata_is_named(tmp_path: Path, digits_cnn: Classifier) -> None:
    path = _copy("distillation", "digits_cnn", tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(UserError, match="metadata file not found"):
        Distillation({"weights": path}).apply(digits_cnn)


def test_weights_for_other_classes_are_refused(tmp_path: Path, digits_cnn: Classifier) -> None:
    path = _copy("adv_train_pgd", "digits_cnn", tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["classes"] = [f"c{i}" for i in range(10)]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="other classes"):
        AdvTrainPGD({"weights": path}).apply(digits_cnn)


def test_domain_weights_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no weights for domain"):
        MagNetReformer({"weights": tmp_path / "nothing.pt"}).transform(torch.rand(1, 3, 8, 8))
    path = _copy("defense_gan", "digits", tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="sha256 mismatch"):
        DefenseGAN({"weights": path}).transform(torch.rand(1, 3, 8, 8))


def test_domain_networks_refuse_another_input_size() -> None:
    big = linear_toy_classifier(size=32)
    for defense in (MagNetDetector(), MagNetReformer(), DefenseGAN()):
        with pytest.raises(UserError, match=r"works on 8x8 images .* takes 32x32"):
            defense.check(big)  # type: ignore[attr-defined]


def test_unknown_domain_is_an_option_error() -> None:
    with pytest.raises(UserError, match="unknown domain 'faces'"):
        MagNetDetector({"domain": "faces"})


def test_training_record_states_epsilon(digits_cnn: Classifier) -> None:
    record = AdvTrainPGD().training_record(digits_cnn)
    assert record["defense"] == "adv_train_pgd" and record["eps"] > 0
    assert 0 < record["pgd_accuracy"] <= 1


def test_defense_gan_seed_is_one_torch_takes() -> None:
    # 2**64 passed the options and ended in a ValueError traceback inside the run
    from physsim_defenses.defense_gan import DefenseGANOptions

    from physsim.options import parse_options

    with pytest.raises(UserError, match=r"seed: Input should be less than or equal to "
                                        r"9223372036854775807"):
        parse_options(DefenseGANOptions, {"seed": 2**64}, "defense_gan")
    assert parse_options(DefenseGANOptions, {"seed": 2**63 - 1}, "defense_gan").seed == 2**63 - 1
