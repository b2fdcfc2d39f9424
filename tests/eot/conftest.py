"""Shared fixtures for the EOT tests: small seeded textures, CPU, float32."""

from __future__ import annotations

import pytest
import torch
from eot_textures import make_texture


@pytest.fixture
def texture() -> torch.Tensor:
    return make_texture()
