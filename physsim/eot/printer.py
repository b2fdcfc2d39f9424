"""The printer: what colours come out of the printer for the colours asked of it.

A profile (JSON) holds a colour transform (3x3 matrix + bias, or a 3-D LUT), the gamut bounds
(ink black, paper white, per channel), and the palette of colours the printer reproduces, which
the non-printability score (Sharif et al. 2016, "Accessorize to a Crime") measures a texture
against. ``profiles/default.json`` is a generic inkjet; a measured profile replaces it by path.

Profile file::

    {"name": "my-printer", "matrix": [[...], [...], [...]], "bias": [r, g, b],
     "gamut": {"low": [r, g, b], "high": [r, g, b]},
     "lut": null,  # or a size S x S x S x 3 table indexed [r][g][b], replacing matrix and bias
     "palette": [[r, g, b], ...]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from physsim.eot.base import Params, Transform, require
from physsim.eot.ops import mix_channels
from physsim.eot.ranges import Bounds, Pair
from physsim.errors import UserError
from physsim.options import Options, describe_validation_error

Triple = tuple[float, float, float]
Unit = Annotated[float, Field(ge=0, le=1)]


class Gamut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    low: tuple[Unit, Unit, Unit]
    high: tuple[Unit, Unit, Unit]

    @model_validator(mode="after")
    def _ordered(self) -> Gamut:
        if any(lo >= hi for lo, hi in zip(self.low, self.high)):
            raise ValueError("low must be below high in every channel")
        return self


class PrinterProfile(BaseModel):
    """A printer's colour behaviour; see the module docstring for the file format."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: str = "custom"
    description: str = ""
    matrix: tuple[Triple, Triple, Triple] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    bias: Triple = (0.0, 0.0, 0.0)
    gamut: Gamut = Gamut(low=(0.0, 0.0, 0.0), high=(1.0, 1.0, 1.0))
    lut: list[list[list[Triple]]] | None = None
    palette: list[Triple] = Field(min_length=2)

    @model_validator(mode="after")
    def _lut_is_cubic(self) -> PrinterProfile:
        if self.lut is not None:
            s = len(self.lut)
            if s < 2 or any(len(p) != s or any(len(r) != s for r in p) for p in self.lut):
                raise ValueError("must be an S x S x S x 3 table with S >= 2")
        return self

    def palette_tensor(self, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(P, 3) the printable colours."""
        return torch.tensor(self.palette, dtype=dtype, device=device)

    def tensors(self, dtype: torch.dtype, device: torch.device) -> ProfileTensors:
        """The colour transform and gamut as tensors, made once per dtype and device (a 17^3
        table from its nested lists takes about 2 ms: at every render step otherwise)."""
        return _profile_tensors(_Same(self), dtype, device)


class _Same:
    """A key that is equal only to a key of the same object (a profile's lists make it
    unhashable, and two equal profiles may be different files' contents at different times);
    held by the cache, it keeps the object, so that its id is not reused meanwhile."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


@lru_cache(maxsize=32)
def _profile_tensors(key: _Same, dtype: torch.dtype, device: torch.device) -> ProfileTensors:
    profile = key.obj
    assert isinstance(profile, PrinterProfile)

    def t(v: object) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, device=device)

    lut = None if profile.lut is None else t(profile.lut).permute(3, 0, 1, 2).unsqueeze(0)
    return ProfileTensors(t(profile.matrix), t(profile.bias),
                          t(profile.gamut.low).view(1, 3, 1, 1),
                          t(profile.gamut.high).view(1, 3, 1, 1), lut)


class ProfileTensors(NamedTuple):
    """A :class:`PrinterProfile` as tensors: ``matrix`` (3, 3), ``bias`` (3,), the gamut's
    ``low`` and ``high`` (1, 3, 1, 1), and the ``lut`` (1, 3, S, S, S) or None."""

    matrix: torch.Tensor
    bias: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    lut: torch.Tensor | None


def profile_file(ref: str) -> tuple[Path, str] | None:
    """(the file, the sha256 of the bytes that were loaded) of a profile given by path; None
    for a shipped profile's name."""
    path = _profile_path(ref)
    if path != Path(ref):
        return None
    load_profile(ref)  # (cached: the profile in use, and the digest of what was read)
    return path, _digests[ref]


#: the sha256 of each profile file as :func:`load_profile` read it, by the same ref
_digests: dict[str, str] = {}


def _profile_path(ref: str) -> Path:
    if ref.endswith(".json") or "/" in ref or "\\" in ref:
        return Path(ref)
    folder = files("physsim.eot") / "profiles"
    path = Path(str(folder / f"{ref}.json"))
    if not path.is_file():
        names = sorted(p.stem for p in Path(str(folder)).glob("*.json"))
        raise UserError(f"unknown printer profile {ref!r} (available: {', '.join(names)}; "
                        "or give the path of a .json file)")
    return path


@lru_cache(maxsize=16)
def load_profile(ref: str) -> PrinterProfile:
    """A shipped profile by name (``"default"``) or a profile file by path."""
    path = _profile_path(ref)
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except FileNotFoundError:
        raise UserError("printer profile file not found", str(path)) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read printer profile: {exc}", str(path)) from None
    try:
        profile = PrinterProfile.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc), str(path)) from None
    _digests[ref] = hashlib.sha256(raw).hexdigest()
    return profile


def non_printability_score(texture: torch.Tensor, palette: torch.Tensor | Sequence[Triple],
                           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Non-printability score (Sharif et al. 2016): how far colours are from the printable ones.

    NPS = mean over pixels p of prod over palette colours c of ||p - c||. A loss term: it is
    small where every pixel is close to some printable colour, and differentiable.

    Args:
        texture: (B, C, H, W) or (C, H, W), C >= 3; the first three channels are RGB in [0, 1].
        palette: (P, 3) printable colours.
        mask: broadcastable to (B, 1, H, W); the mean is taken over it (weights in [0, 1]).

    Returns:
        (B,) scores (a 0-d tensor for an unbatched texture).
    """
    single = texture.ndim == 3
    x = texture.unsqueeze(0) if single else texture
    pal = torch.as_tensor(palette, dtype=x.dtype, device=x.device)
    pix = x[:, :3].flatten(2).transpose(1, 2)  # (B, HW, 3)
    # ||p - c||^2 by expansion: (B, HW, P) without a (B, HW, P, 3) intermediate
    d2 = (pix * pix).sum(-1, keepdim=True) - 2 * pix @ pal.T + (pal * pal).sum(-1)
    score = torch.sqrt(d2.clamp(min=0) + 1e-12).prod(-1)  # (B, HW)
    if mask is None:
        out = score.mean(1)
    else:
        m = mask.to(x.dtype).expand(x.shape[0], 1, *x.shape[-2:]).flatten(1)
        out = (score * m).sum(1) / m.sum(1).clamp(min=1e-12)
    return out[0] if single else out


class Printer(Transform):
    """The printer's colour transform and gamut clamp, with optional ink variation per sample.

    Params: ``ink_gain`` (n, 3), per-channel multipliers around 1 (ink load, paper batch).
    """

    name = "printer"

    class Options(Options):
        #: a shipped profile name or the path of a profile JSON file
        profile: str = "default"
        ink_jitter: Annotated[Pair, Bounds(ge=0, le=0.5)] = (0.0, 0.0)

        @field_validator("profile")
        @classmethod
        def _loads(cls, ref: str) -> str:
            try:
                load_profile(ref)
            except UserError as exc:
                raise ValueError(str(exc)) from None
            return ref

    options: Options

    @property
    def profile(self) -> PrinterProfile:
        return load_profile(self.options.profile)

    def sample(self, n: int, generator: torch.Generator) -> Params:
        lo, hi = self.options.ink_jitter
        u = torch.rand(n, 4, generator=generator, device=generator.device)
        amount = lo + (hi - lo) * u[:, :1]
        return {"ink_gain": 1.0 + amount * (2 * u[:, 1:] - 1)}

    def check_params(self, params: Params) -> None:
        # ink_jitter is at most 0.5: each ink's gain within 50% of the profile's
        require(params, "ink_gain", "between 0.5 and 1.5", lambda v: (v >= 0.5) & (v <= 1.5))

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        p = self.profile.tensors(images.dtype, images.device)
        gain = params["ink_gain"].to(images.dtype)
        if p.lut is not None:
            # grid_sample's (x, y, z) index (W, H, D) = (b, g, r) of a table indexed [r][g][b]
            grid = images.permute(0, 2, 3, 1).flip(-1).unsqueeze(0) * 2 - 1
            y = F.grid_sample(p.lut, grid, mode="bilinear", padding_mode="border",
                              align_corners=True)[0].transpose(0, 1)
            y = y * gain.view(-1, 3, 1, 1)
        else:
            # the ink gain folds into a per-sample matrix: one pass over the pixels
            y = mix_channels(images, p.matrix * gain.unsqueeze(2), p.bias * gain)
        return torch.clamp(y, p.low, p.high)
