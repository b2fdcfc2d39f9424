"""Training-time defenses: each loads a classifier trained by ``scripts/train_defenses.py``.

``apply(classifier)`` never trains; it loads the shipped weights for that classifier
(``weights/<defense>-<classifier>.pt``) or the file given in the ``weights`` option, and a
classifier without weights is one :class:`UserError`: "defense X has no weights for
classifier Y".
"""

from __future__ import annotations

from pathlib import Path

from physsim.classifier import Classifier
from physsim.defense import ModelTransform
from physsim.options import Options
from physsim_defenses._weights import load_defended_classifier, read_meta, shipped


class TrainedOptions(Options):
    """Options of every training-time defense.

    Attributes:
        weights: a ``.pt`` file to use instead of the shipped one (its ``.json`` beside it).
    """

    weights: Path | None = None


class TrainedDefense(ModelTransform):
    """A model transformation whose result is a shipped, checked weight file."""

    Options = TrainedOptions
    options: TrainedOptions

    def apply(self, classifier: Classifier) -> Classifier:
        return load_defended_classifier(self.name, classifier, self.options.weights)

    def training_record(self, classifier: Classifier) -> dict[str, object]:
        """How the weights were trained (epsilon, temperature, accuracy...) from the metadata."""
        path = self.options.weights or shipped(self.name, classifier.name)
        meta = read_meta(path, f"defense {self.name!r}")
        return {k: v for k, v in meta.items() if k not in ("classes", "mean", "std", "sha256")}


class AdvTrainFGSM(TrainedDefense):
    """Adversarial training on FGSM examples (Goodfellow, Shlens and Szegedy 2014,
    arXiv:1412.6572): half of each batch clean, half perturbed by one signed gradient step."""

    name = "adv_train_fgsm"


class AdvTrainPGD(TrainedDefense):
    """Adversarial training on PGD examples with random start, the min-max formulation of
    Madry, Makelov, Schmidt, Tsipras and Vladu 2017 (arXiv:1706.06083)."""

    name = "adv_train_pgd"


class AdvTrainEnsemble(TrainedDefense):
    """Ensemble adversarial training (Tramèr, Kurakin, Papernot, Goodfellow, Boneh and
    McDaniel 2017, arXiv:1705.07204): FGSM examples come in turn from the model being trained
    and from static pre-trained models, decoupling them from the model's own gradients."""

    name = "adv_train_ensemble"


class AdvTrainPhysical(TrainedDefense):
    """Physical adversarial training: the sign classifier fine-tuned on EOT renders carrying
    RP2-like stickers and patches (Eykholt et al. 2018, arXiv:1707.08945; the min-max of
    Madry et al. 2017 over the sticker's colours instead of an L-inf ball)."""

    name = "adv_train_physical"


class Distillation(TrainedDefense):
    """Defensive distillation (Papernot, McDaniel, Wu, Jha and Swami 2016, arXiv:1511.04508):
    a student trained at temperature T on the teacher's softened labels, deployed at T = 1.
    Its logits are about T times larger, so softmax gradients vanish: the textbook case of
    gradient masking that Carlini and Wagner (2016, arXiv:1607.04311) broke."""

    name = "distillation"


class LabelSmoothing(TrainedDefense):
    """Label smoothing (Szegedy et al. 2016, arXiv:1512.00567; as a defense, Warde-Farley and
    Goodfellow 2016): targets ``(1 - a) onehot + a / C`` make the logits less extreme."""

    name = "label_smoothing"
