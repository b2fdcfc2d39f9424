"""The scikit-learn handwritten digits as RGB images in [0, 1], with a fixed train/test split.

The 1797 8×8 digits (Alpaydin & Kaynak 1998, UCI) ship inside scikit-learn, so classic attack
demonstrations (FGSM on digits) run offline. scikit-learn is the optional extra ``digits``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from physsim.errors import UserError

SPLITS = ("train", "test")
#: the permutation seed that fixes the split; the shipped weights were trained on it
SPLIT_SEED = 0
TEST_FRACTION = 0.25
LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError("scikit-learn is not installed: pip install 'physsim[digits]' "
                        "(from a checkout: pip install '.[digits]')",
                        "digits") from None


@lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    _require_sklearn()
    from sklearn.datasets import load_digits

    bunch = load_digits()
    grey = torch.as_tensor(bunch.images, dtype=torch.float32) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return grey.unsqueeze(1).expand(-1, 3, -1, -1).contiguous(), labels


def split_indices(split: str) -> torch.Tensor:
    """Indices of ``split`` in scikit-learn's order: a seeded permutation, stratified by class
    so both splits keep the class balance."""
    if split not in SPLITS:
        raise UserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", "digits")
    _, labels = _all_digits()
    g = torch.Generator().manual_seed(SPLIT_SEED)
    order = torch.randperm(len(labels), generator=g)
    chosen = []
    for c in range(10):
        members = order[labels[order] == c]
        n_test = round(len(members) * TEST_FRACTION)
        chosen.append(members[:n_test] if split == "test" else members[n_test:])
    return torch.cat(chosen).sort().values


def load_digits_split(split: str, device: str | torch.device = "cpu"
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of one split.

    Args:
        split: "train" (1347 images) or "test" (450 images).
        device: where the tensors go.

    Returns:
        (images (n, 3, 8, 8) float32 in [0, 1], grey replicated to RGB; labels (n,) int64).

    Raises:
        UserError: scikit-learn is missing (``pip install physsim[digits]``) or the split is
            unknown.
    """
    images, labels = _all_digits()
    idx = split_indices(split)
    return images[idx].to(device), labels[idx].to(device)
