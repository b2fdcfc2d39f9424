"""User models: TorchScript archives and state dicts, loaded safely and attackable."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from physsim_digits.model import DigitsCNN
from physsim_models.classifiers import StateDictClassifier, TorchScriptClassifier
from torch import nn

from physsim.attack import Goal
from physsim.classifier import Classifier
from physsim.errors import UnknownNameError, UserError
from physsim.objective import ClassifierObjective
from physsim.testing import ClassifierContract

# exporting the test models with TorchScript is what most users' models still come as
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning")

LABELS = ["cat", "dog", "bird"]


def _small_net(in_channels: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, len(LABELS))).eval()


@pytest.fixture(scope="module")
def ts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ts") / "net.pt"
    torch.jit.script(_small_net()).save(str(path))
    return path


@pytest.fixture(scope="module")
def sd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sd") / "digits.pt"
    torch.manual_seed(0)
    torch.save(DigitsCNN(10).state_dict(), path)
    return path


TS_OPTIONS = {"labels": LABELS, "input_size": [16, 16], "mean": [0.5] * 3, "std": [0.25] * 3}
SD_OPTIONS = {"architecture": "digits_cnn", "labels": [str(d) for d in range(10)]}


class TestTorchScriptContract(ClassifierContract):
    classifier_class = TorchScriptClassifier
    options: ClassVar[dict[str, Any]] = {"path": "unused.pt", **TS_OPTIONS}

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, ts_file: Path) -> Classifier:
        return TorchScriptClassifier.create({**cls.options, "path": ts_file})


class TestStateDictContract(ClassifierContract):
    classifier_class = StateDictClassifier
    options: ClassVar[dict[str, Any]] = {"path": "unused.pt", **SD_OPTIONS}

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, sd_file: Path) -> Classifier:
        return StateDictClassifier.create({**cls.options, "path": sd_file})


def test_torchscript_matches_original_and_is_attackable(ts_file: Path) -> None:
    model = TorchScriptClassifier.create({"path": ts_file, **TS_OPTIONS})
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), _small_net()((x - 0.5) / 0.25))
        labels = model(x).argmax(1)
    # Iterative FGSM (Kurakin et al. 2016) written inline: signs of the EOT-free objective.
    objective = ClassifierObjective(model, model.num_classes)
    goal = Goal("untargeted", labels)
    eps, steps = 0.1, 5
    adv = x.clone()
    for _ in range(steps):
        _, grad, _ = objective.value_and_grad(adv, goal.loss)
        adv = (adv - eps / steps * 2 * grad.sign()).clamp(x - eps, x + eps).clamp(0, 1)
    with torch.no_grad():
        fooled = (model(adv).argmax(1) != labels).float().mean().item()
    assert (adv - x).abs().max() <= eps + 1e-6
    assert fooled >= 0.5, fooled
    assert objective.backwards == steps


def test_labels_file(tmp_path: Path, ts_file: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n\nbird\n")
    opts = {k: v for k, v in TS_OPTIONS.items() if k != "labels"}
    model = TorchScriptClassifier.create({"path": ts_file, "labels_file": labels, **opts})
    assert model.labels == tuple(LABELS)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"options\.path: file not found"):
        TorchScriptClassifier.create({"path": tmp_path / "missing.pt", **TS_OPTIONS})
    with pytest.raises(UserError, match=r"options\.path: file not found"):
        StateDictClassifier.create({"path": tmp_path / "missing.pt", **SD_OPTIONS})


def test_not_a_torchscript_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_text("not a model")
    with pytest.raises(UserError, match="not a TorchScript archive"):
        TorchScriptClassifier.create({"path": bogus, **TS_OPTIONS})


def test_wrong_input_channels(tmp_path: Path) -> None:
    grey = tmp_path / "grey.pt"
    torch.jit.script(_small_net(in_channels=1)).save(str(grey))
    with pytest.raises(UserError, match=r"does not accept \(1, 3, 16, 16\) RGB input"):
        TorchScriptClassifier.create({"path": grey, **TS_OPTIONS})


def test_label_count_mismatch(ts_file: Path) -> None:
    with pytest.raises(UserError, match=r"expected \(1, 2\) logits"):
        TorchScriptClassifier.create({"path": ts_file, **TS_OPTIONS, "labels": ["a", "b"]})


def test_unknown_architecture(sd_file: Path) -> None:
    with pytest.raises(UnknownNameError, match=r"options\.architecture: unknown architecture "
                                               r"'resnet9000' \(available: digits_cnn"):
        StateDictClassifier.create({"path": sd_file, **SD_OPTIONS, "architecture": "resnet9000"})


def test_state_dict_of_wrong_shape(sd_file: Path) -> None:
    with pytest.raises(UserError, match="do not fit architecture 'lisa_cnn'"):
        StateDictClassifier.create({"path": sd_file, **SD_OPTIONS, "architecture": "lisa_cnn"})


def test_state_dict_hash_option(sd_file: Path) -> None:
    with pytest.raises(UserError, match="sha256 mismatch"):
        StateDictClassifier.create({"path": sd_file, **SD_OPTIONS, "sha256": "0" * 64})


class _Payload:
    """Not a tensor: weights_only loading must refuse to unpickle it."""


def test_state_dict_refuses_pickled_objects(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"obj": _Payload()}, evil)
    with pytest.raises(UserError, match="cannot load weights"):
        StateDictClassifier.create({"path": evil, **SD_OPTIONS})


@pytest.mark.parametrize("bad", [
    {"labels": None},                       # neither labels nor labels_file
    {"labels_file": "labels.txt"},          # both
    {"std": [1.0, 0.0, 1.0]},
    {"input_size": [0, 16]},
])
def test_bad_options(bad: dict[str, object], ts_file: Path) -> None:
    with pytest.raises(UserError, match="classifier 'torchscript' options"):
        TorchScriptClassifier.create({"path": ts_file, **TS_OPTIONS, **bad})
