"""Device names: cpu, cuda and cuda:N only, each refusal one line naming its source."""

from __future__ import annotations

import pytest
import torch

from physsim.device import resolve_device
from physsim.errors import UserError


def test_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" cpu ", "--device") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "mps", "meta", "xla", "cuda:x", "cuda:-1", "CPU", ""])
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(UserError, match=r"^--device: not a device name: .* \(use cpu, cuda or "
                                        r"cuda:N\)$"):
        resolve_device(name, "--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused() -> None:
    for name in ("cuda", "cuda:0"):
        with pytest.raises(UserError, match=r"scene\.yaml: device: CUDA was asked for but no CUDA"):
            resolve_device(name, "scene.yaml: device")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_index_past_the_last_device_is_refused() -> None:
    assert resolve_device("cuda").type == "cuda"
    with pytest.raises(UserError, match="there is no CUDA device 99"):
        resolve_device("cuda:99")
