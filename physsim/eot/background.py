"""Backgrounds: what lies behind the object, drawn in batch at the window size.

Three kinds: ``procedural`` (the default, below), ``flat`` (one grey level per sample) and
``image`` (crops of the user's photographs: :mod:`physsim.eot.image_background`).

Every procedural background is the same recipe with different numbers: a two-colour
gradient, two octaves of value noise (a coarse and a fine random lattice, upsampled), and a few
soft-edged rectangles or ellipses composited on top. The kind of scene only changes the
distributions the numbers are drawn from (sky: blue gradient and white round clouds; road: grey
with fine grain and thin bright markings; foliage: greens with strong grain and dark blobs;
urban: flat rectangles of many colours; noise: anything). The lattices come from a per-sample
seed through the counter-based generator of :mod:`physsim.eot.rng`, so params replay the same
picture.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, ValidationInfo, field_validator, model_validator

from physsim.eot.base import BackgroundTransform, Params, require
from physsim.eot.image_background import ImageBank, load_images, render_crops, sample_crops
from physsim.eot.ranges import Bounds, Pair, uniform
from physsim.eot.rng import draw_seeds, require_seed, uniform_fields
from physsim.errors import UserError
from physsim.options import Options

Kind = Literal["sky", "road", "foliage", "urban", "noise"]
KINDS: tuple[Kind, ...] = ("sky", "road", "foliage", "urban", "noise")
BLOBS = 6
#: backgrounds are drawn at most this many pixels across (see :func:`generate`)
MAX_SIZE = 128
_COARSE, _FINE = 6, 24

# per kind: (low, high) of top colour, bottom colour; gradient angle (deg); coarse and fine
# noise amplitude; blob count; blob colour; probability a blob is round; softness; size;
# whether the gradient's colours are grey (one draw for the three channels)
_TABLE: dict[str, dict[str, tuple]] = {
    "sky": {"top": ((0.25, 0.45, 0.75), (0.55, 0.75, 0.98)),
            "bottom": ((0.65, 0.75, 0.85), (0.95, 0.97, 1.0)), "angle": (80, 100),
            "coarse": (0.0, 0.08), "fine": (0.0, 0.02), "count": (0, 3),
            "color": ((0.85, 0.85, 0.88), (1.0, 1.0, 1.0)), "round": (1.0,),
            "soft": (0.1, 0.4), "size": (0.1, 0.4), "grey": (0.0,)},
    "road": {"top": ((0.3, 0.3, 0.3), (0.6, 0.6, 0.6)),
             "bottom": ((0.2, 0.2, 0.2), (0.5, 0.5, 0.5)), "angle": (60, 120),
             "coarse": (0.02, 0.1), "fine": (0.03, 0.12), "count": (0, 4),
             "color": ((0.8, 0.7, 0.2), (1.0, 1.0, 1.0)), "round": (0.0,),
             "soft": (0.005, 0.02), "size": (0.02, 0.4), "grey": (1.0,)},
    "foliage": {"top": ((0.1, 0.25, 0.05), (0.4, 0.6, 0.3)),
                "bottom": ((0.15, 0.2, 0.05), (0.45, 0.5, 0.25)), "angle": (0, 360),
                "coarse": (0.1, 0.25), "fine": (0.1, 0.3), "count": (2, 6),
                "color": ((0.05, 0.1, 0.02), (0.5, 0.6, 0.3)), "round": (1.0,),
                "soft": (0.02, 0.2), "size": (0.05, 0.3), "grey": (0.0,)},
    "urban": {"top": ((0.3, 0.25, 0.2), (0.8, 0.75, 0.7)),
              "bottom": ((0.25, 0.2, 0.2), (0.7, 0.7, 0.7)), "angle": (0, 360),
              "coarse": (0.0, 0.1), "fine": (0.0, 0.05), "count": (3, 6),
              "color": ((0.1, 0.1, 0.1), (0.9, 0.9, 0.9)), "round": (0.0,),
              "soft": (0.003, 0.02), "size": (0.1, 0.5), "grey": (0.0,)},
    "noise": {"top": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
              "bottom": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), "angle": (0, 360),
              "coarse": (0.1, 0.4), "fine": (0.1, 0.4), "count": (0, 6),
              "color": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), "round": (0.5,),
              "soft": (0.01, 0.3), "size": (0.05, 0.4), "grey": (0.0,)},
}


@lru_cache(maxsize=64)
def _rows(names: tuple[str, ...], device: torch.device
          ) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[int, int]]]:
    """The table for the kinds ``names`` as two float tensors (len(names), D), every entry's
    low end and its span (high - low; single values: the value and 0) side by side, and where
    each entry sits in them: ``{key: (start, stop)}``."""
    low: list[torch.Tensor] = []
    span: list[torch.Tensor] = []
    where: dict[str, tuple[int, int]] = {}
    start, k = 0, len(names)
    for key in _TABLE[names[0]]:
        # (K, 2, ...) for a (low, high) entry, (K, 1) for a single value
        rng = torch.tensor([_TABLE[kind][key] for kind in names], dtype=torch.float32)
        ranged = rng.shape[1] == 2
        lo = (rng[:, 0] if ranged else rng).reshape(k, -1)
        low.append(lo)
        span.append((rng[:, 1] - rng[:, 0]).reshape(k, -1) if ranged else torch.zeros_like(lo))
        where[key] = (start, start + lo.shape[1])
        start += lo.shape[1]
    return torch.cat(low, 1).to(device), torch.cat(span, 1).to(device), where


#: What :func:`sample_procedural` draws, in this order: (param, where its ends come from,
#: per-sample shape). Each value is low + (high - low) u: a table entry gives the sample's
#: kind its ends (one pair, or one per channel, repeated over the blobs); the others are
#: (low, high - low) for every kind. ``blob_round``'s draws are compared with the kind's
#: ``round`` afterwards, and ``top`` and ``bottom`` take one draw for their three channels
#: where the kind is grey.
_DRAWS: tuple[tuple[str, str | tuple[float, float], tuple[int, ...]], ...] = (
    ("count", "count", ()), ("angle", "angle", ()), ("top", "top", (3,)),
    ("bottom", "bottom", (3,)), ("coarse", "coarse", ()), ("fine", "fine", ()),
    ("tint", (0.6, 0.4), (3,)), ("blob_xy", (0.0, 1.0), (BLOBS, 2)),
    ("blob_size", "size", (BLOBS, 2)), ("blob_color", "color", (BLOBS, 3)),
    ("blob_alpha", (0.7, 0.3), (BLOBS,)), ("blob_round", (0.0, 1.0), (BLOBS,)),
    ("blob_soft", "soft", (BLOBS,)))
_TOP = [name for name, _, _ in _DRAWS].index("top")  # "bottom" follows it


@lru_cache(maxsize=64)
def _draw_layout(names: tuple[str, ...], n: int, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """How n samples' uniforms become values (see :func:`sample_procedural`).

    Returns the lows and spans of every kind's entries, each fixed pair of :data:`_DRAWS`
    appended as one more column ((len(names), D) each); for every number drawn, where its
    ends lie in the flattened (n, D) rows of its samples' kinds; and each param's number of
    draws (n * size).
    """
    low, span, where = _rows(names, device)
    fixed = [ends for _, ends, _ in _DRAWS if not isinstance(ends, str)]
    k, d = len(names), low.shape[1] + len(fixed)
    pairs = torch.tensor(fixed, dtype=torch.float32, device=device).T.unsqueeze(1)  # (2, 1, f)
    low = torch.cat([low, pairs[0].expand(k, -1)], 1)
    span = torch.cat([span, pairs[1].expand(k, -1)], 1)
    index, sizes, extra = [], [], d - len(fixed)
    for _, ends, shape in _DRAWS:
        if isinstance(ends, str):
            a, b = where[ends]
        else:
            a, b, extra = extra, extra + 1, extra + 1
        size = math.prod(shape)
        # element j of a sample uses column a + j mod (b - a): the entry's values, repeated
        per_sample = a + torch.arange(size, device=device) % (b - a)
        index.append((torch.arange(n, device=device).view(-1, 1) * d + per_sample).view(-1))
        sizes.append(n * size)
    return low, span, torch.cat(index), sizes


@lru_cache(maxsize=64)
def _kind_index(names: tuple[str, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor([KINDS.index(k) for k in names], device=device)


def sample_procedural(n: int, generator: torch.Generator, names: tuple[str, ...]) -> Params:
    """Draw the numbers of n procedural backgrounds whose kinds are chosen among ``names``."""
    dev = generator.device
    kinds = torch.randint(0, len(names), (n,), generator=generator, device=dev)
    low, span, index, sizes = _draw_layout(names, n, dev)
    # every number at once: the same values as one draw per param, in _DRAWS's order
    u = torch.rand(sum(sizes), generator=generator, device=dev)
    rows_low, rows_span = low[kinds], span[kinds]
    column = _rows(names, dev)[2]
    # top and bottom, drawn one after the other: a grey kind's channels take the first draw
    top = sum(sizes[:_TOP])
    colours = u[top:top + sizes[_TOP] + sizes[_TOP + 1]].view(2, n, 3)
    grey = rows_low[:, column["grey"][0], None] > 0
    colours.copy_(torch.where(grey, colours[..., :1], colours))
    values = rows_low.view(-1)[index] + rows_span.view(-1)[index] * u
    v = {name: part.view(n, *shape) for (name, _, shape), part
         in zip(_DRAWS, values.split(sizes), strict=True)}
    present = (torch.arange(BLOBS, device=dev) < v["count"].round().view(-1, 1)).float()
    return {
        "kind": _kind_index(names, dev)[kinds],
        "top": v["top"],
        "bottom": v["bottom"],
        "angle": torch.deg2rad(v["angle"]),
        "coarse": v["coarse"],
        "fine": v["fine"],
        "tint": v["tint"],
        "blob_xy": v["blob_xy"],
        "blob_size": v["blob_size"],
        "blob_color": v["blob_color"],
        "blob_alpha": present * v["blob_alpha"],
        "blob_round": (v["blob_round"] < rows_low[:, column["round"][0], None]).float(),
        "blob_soft": v["blob_soft"],
        "seed": draw_seeds(n, generator),
    }


def _lattices(seeds: torch.Tensor, size: tuple[int, int], dtype: torch.dtype
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The coarse and the fine value-noise lattice in [-1, 1], upsampled to ``size``."""
    fields = ((1, _COARSE, _COARSE), 0), ((1, _FINE, _FINE), 1)
    coarse, fine = (F.interpolate(u * 2 - 1, size=size, mode="bilinear", align_corners=False)
                    for u in uniform_fields(seeds, fields, dtype))
    return coarse, fine


def generate(params: Params, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """(n, 3, h, w) backgrounds in [0, 1] from params drawn by :func:`sample_procedural`.

    Windows larger than :data:`MAX_SIZE` are drawn at that size and upsampled: the scene's
    detail is the fine lattice's (24 cells across), and a large window costs no more than
    that.
    """
    if max(size) > MAX_SIZE:
        scale = MAX_SIZE / max(size)
        small = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        img = generate(params, small, dtype)
        return F.interpolate(img, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    h, w = size
    dev = params["top"].device
    p = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in params.items()}
    ys = torch.linspace(0, 1, h, dtype=dtype, device=dev).view(1, 1, h, 1)
    xs = torch.linspace(0, 1, w, dtype=dtype, device=dev).view(1, 1, 1, w)
    ang = p["angle"].view(-1, 1, 1, 1)
    t = ((xs - 0.5) * torch.cos(ang) + (ys - 0.5) * torch.sin(ang) + 0.5).clamp(0, 1)
    img = p["top"].view(-1, 3, 1, 1) * (1 - t) + p["bottom"].view(-1, 3, 1, 1) * t
    coarse, fine = _lattices(params["seed"], size, dtype)
    noise = coarse * p["coarse"].view(-1, 1, 1, 1) + fine * p["fine"].view(-1, 1, 1, 1)
    img = img + noise * p["tint"].view(-1, 3, 1, 1)
    # the blobs, all at once: distances from each centre in units of its half-size
    centre = p["blob_xy"].unsqueeze(-1).unsqueeze(-1)  # (n, B, 2, 1, 1)
    half = p["blob_size"].unsqueeze(-1).unsqueeze(-1)
    dx = (xs.squeeze(1) - centre[:, :, 0]) / half[:, :, 0]  # (n, B, 1, w)
    dy = (ys.squeeze(1) - centre[:, :, 1]) / half[:, :, 1]  # (n, B, h, 1)
    dist = torch.where(p["blob_round"].view(*p["blob_round"].shape, 1, 1) > 0.5,
                       torch.sqrt(dx * dx + dy * dy), torch.maximum(dx.abs(), dy.abs()))
    inv_soft = 1 / p["blob_soft"].view(*p["blob_soft"].shape, 1, 1)
    cover = torch.sigmoid(inv_soft - dist * inv_soft) * p["blob_alpha"].unsqueeze(-1).unsqueeze(-1)
    # painting blob 1, then 2, ... over the image (lerp by cover) in closed form: each layer
    # is seen through the (1 - cover) of every layer painted after it
    keep = 1 - cover
    after = torch.cat([keep[:, 1:].flip(1).cumprod(1).flip(1), torch.ones_like(keep[:, :1])], 1)
    # sum over blobs of (cover * after) (n, B, h, w) times colour (n, B, 3), as one bmm
    paint = torch.bmm(p["blob_color"].transpose(1, 2), (cover * after).flatten(2))
    img = img * keep[:, :1] * after[:, :1] + paint.view(-1, 3, h, w)
    return img.clamp(0, 1)


#: the options that only one kind uses
_USED_WITH = {"scenes": "procedural", "gray": "flat", "max_px": "image", "images": "image",
              "scale": "image", "flip": "image"}


class Background(BackgroundTransform):
    """What the camera sees around the object: procedural scenes, a flat grey, or photographs.

    Params (procedural): see :func:`sample_procedural`; (flat): ``gray`` (n,); (image):
    ``index`` (n,) which image, ``scale``, ``x``, ``y`` (n,) the crop, ``flip`` (n,) 0 or 1,
    ``images_id`` (n,) the images' fingerprint (see :mod:`physsim.eot.image_background`).
    Options that only one kind uses are refused with another.
    """

    name = "background"

    class Options(Options):
        kind: Literal["procedural", "flat", "image"] = "procedural"
        #: which procedural scenes to draw from, equally often
        scenes: tuple[Kind, ...] = Field(KINDS, min_length=1)
        #: the grey level of flat backgrounds
        gray: Annotated[Pair, Bounds(ge=0, le=1)] = (0.2, 0.8)
        #: kind image: images are shrunk to at most this many pixels on their long side
        max_px: int = Field(512, ge=16, le=8192)
        #: kind image: image files and folders of images (paths from the working directory)
        images: tuple[str, ...] = ()
        #: kind image: the crop's size, as a fraction of the largest window-shaped crop
        scale: Annotated[Pair, Bounds(gt=0, le=1)] = (0.2, 1.0)
        #: kind image: mirror half of the crops left to right
        flip: bool = True

        @field_validator("images", mode="before")
        @classmethod
        def _one_path(cls, value: object) -> object:
            return (value,) if isinstance(value, str) else value

        @field_validator("images")
        @classmethod
        def _readable(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
            # read now, so that a bad file stops the scene before any work (max_px comes
            # first: when it is invalid, its own error is the one reported)
            if value and info.data.get("kind") == "image" and "max_px" in info.data:
                try:
                    load_images(value, info.data["max_px"])
                except UserError as exc:
                    raise ValueError(str(exc)) from None
            return value

        @model_validator(mode="after")
        def _kind_options(self) -> Background.Options:
            for name in sorted(self.model_fields_set):
                kind = _USED_WITH.get(name)
                if kind is not None and kind != self.kind:
                    raise ValueError(f"{name} is only used with kind: {kind} (kind is "
                                     f"{self.kind})")
            if self.kind == "image" and not self.images:
                raise ValueError("kind: image needs images: a list of image files or folders")
            return self

    options: Options

    @cached_property
    def bank(self) -> ImageBank:
        """The images of kind ``image``, as they were when first asked for (an attack's steps
        all see the same images, even if the files change meanwhile)."""
        return load_images(self.options.images, self.options.max_px)

    def sample(self, n: int, generator: torch.Generator) -> Params:
        o = self.options
        if o.kind == "flat":
            return {"gray": uniform(o.gray, n, generator)}
        if o.kind == "image":
            return sample_crops(n, generator, self.bank, o.scale, o.flip)
        return sample_procedural(n, generator, tuple(o.scenes))

    def check_params(self, params: Params) -> None:
        if self.options.kind == "flat":
            require(params, "gray", "between 0 and 1", lambda v: (v >= 0) & (v <= 1))
        # (the params' names are looked for: a subclass may draw params of its own)
        elif self.options.kind == "procedural" and "kind" in params:
            require(params, "kind", f"a scene number from 0 to {len(KINDS) - 1}",
                    lambda v: (v >= 0) & (v < len(KINDS)))
            # the limits of every scene's table; a blob of softness 0 or a colour far outside
            # [0, 1] would paint the window with NaN or a flat extreme
            for name in ("top", "bottom", "coarse", "fine", "tint", "blob_xy", "blob_color",
                         "blob_alpha"):
                require(params, name, "between 0 and 1", lambda v: (v >= 0) & (v <= 1))
            for name in ("blob_size", "blob_soft"):
                require(params, name, "above 0 and at most 1", lambda v: (v > 0) & (v <= 1))
            require(params, "blob_round", "0 or 1", lambda v: (v == 0) | (v == 1))
            require_seed(params)
        elif self.options.kind == "image" and "index" in params:
            count = len(self.bank)
            require(params, "index", f"an image number from 0 to {count - 1}",
                    lambda v: (v >= 0) & (v < count))
            require(params, "scale", "above 0 and at most 1", lambda v: (v > 0) & (v <= 1))
            for name in ("x", "y"):
                require(params, name, "between 0 and 1", lambda v: (v >= 0) & (v <= 1))
            require(params, "flip", "0 or 1", lambda v: (v == 0) | (v == 1))
            if not bool((params["images_id"] == self.bank.id).all()):
                raise ValueError("images_id: these params were drawn from other images (since "
                                 "then a file was added, removed or changed, the files' order "
                                 "changed, or max_px changed)")

    def generate(self, params: Params, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        if self.options.kind == "flat":
            g = params["gray"].to(dtype).view(-1, 1, 1, 1)
            return g.expand(-1, 3, size[0], size[1])
        if self.options.kind == "image":
            return render_crops(self.bank, params, size, dtype)
        return generate(params, size, dtype)

