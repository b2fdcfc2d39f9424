"""Photographs as backgrounds: a random window-shaped crop of one of the user's images.

``background: {kind: image, images: [photos/]}`` puts the object in front of real scenes. Each
sample picks one image (``index``), a zoom (``scale``: 1 shows the largest crop of the image with
the window's aspect ratio, 0.5 half of it), where the crop lies (``x``, ``y`` from 0 to 1: left
to right, top to bottom of the free room) and whether it is mirrored (``flip``).

All samples are drawn in one batch, without copying an image per sample: the images are stacked
one above the other into one tall atlas per mip level (2x2 box filter per level, as the object's
texture is), and every sample reads the two levels whose pixel size brackets its own, through
one ``grid_sample`` per level over all samples that use it. Coordinates are clamped to the
centres of each image's border pixels, so a crop never reads another image of the atlas and the
border repeats as OpenCV's ``BORDER_REPLICATE`` does.

Images are read once (OpenCV; anything ``cv2.imread`` reads, grey images as RGB, alpha dropped)
and shrunk so that their long side is at most ``max_px``; the bank is cached for as long as the
files do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from physsim.eot.base import Params
from physsim.eot.warp import build_pyramid, group_levels, level_count
from physsim.errors import UserError

#: What a folder is searched for (not recursively), case-insensitive.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: The smallest image side accepted, in pixels.
MIN_PX = 8


@dataclass(frozen=True)
class _Level:
    """One mip level of every image: the atlas and each image's size in it."""

    atlas: torch.Tensor  # (1, 3, N * rows, cols)
    dims: torch.Tensor  # (N, 2) float64 (height, width) of each image at this level
    rows: int  # the atlas rows given to each image


@dataclass
class ImageBank:
    """The images of one ``background: {kind: image}`` step, read and shrunk, in file order.

    Attributes:
        files: the image files, in the order ``index`` counts them.
        images: each as (h, w, 3) uint8 RGB.
    """

    files: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    _levels: dict[tuple[torch.device, torch.dtype], list[_Level]] = field(
        default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def levels(self, device: torch.device, dtype: torch.dtype) -> list[_Level]:
        """The mip levels on ``device`` (built on first use, then kept)."""
        key = (torch.device(device), dtype)
        if key not in self._levels:
            self._levels[key] = self._build(*key)
        return self._levels[key]

    def _build(self, device: torch.device, dtype: torch.dtype) -> list[_Level]:
        count = level_count((max(i.shape[0] for i in self.images),
                             max(i.shape[1] for i in self.images)))
        pyramids = [build_pyramid(torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0)
                                  .to(device, dtype) / 255, 0, count - 1) for img in self.images]
        out = []
        for level in range(count):
            parts = [p[level] for p in pyramids]
            rows = max(p.shape[-2] for p in parts)
            cols = max(p.shape[-1] for p in parts)
            atlas = torch.zeros(1, 3, len(parts) * rows, cols, device=device, dtype=dtype)
            for i, p in enumerate(parts):
                atlas[0, :, i * rows:i * rows + p.shape[-2], :p.shape[-1]] = p[0]
            dims = torch.tensor([p.shape[-2:] for p in parts], dtype=torch.float64,
                                device=device)
            out.append(_Level(atlas, dims, rows))
        return out


def image_files(refs: tuple[str, ...]) -> list[Path]:
    """The files ``refs`` name: files as given, folders' images sorted by name.

    :class:`UserError` naming the path for one that does not exist or a folder with no images.
    """
    files: list[Path] = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in EXTENSIONS)
            if not found:
                raise UserError(f"no images in this folder (looked for "
                                f"{', '.join(EXTENSIONS)})", ref)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError("no such file or folder", ref)
    return files


def load_images(refs: tuple[str, ...], max_px: int) -> ImageBank:
    """The bank of the images ``refs`` names (files or folders), long sides at most ``max_px``.

    Cached: asking again for the same files, unchanged on disk, returns the same bank.
    :class:`UserError` naming the file for a missing path, a file OpenCV cannot read, or an
    image smaller than :data:`MIN_PX` on a side.
    """
    files = image_files(refs)
    stamps = []
    for f in files:
        st = f.stat()
        stamps.append((str(f), st.st_mtime_ns, st.st_size))
    return _load(tuple(stamps), max_px)


@lru_cache(maxsize=8)
def _load(stamps: tuple[tuple[str, int, int], ...], max_px: int) -> ImageBank:
    images = []
    for name, _, _ in stamps:
        data = np.fromfile(name, dtype=np.uint8)  # imread cannot say why it failed
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise UserError("cannot read this file as an image", name)
        h, w = img.shape[:2]
        if min(h, w) < MIN_PX:
            raise UserError(f"the image is {w}x{h} px; a background needs at least {MIN_PX} "
                            "px on each side", name)
        if max(h, w) > max_px:
            f = max_px / max(h, w)
            img = cv2.resize(img, (max(MIN_PX, round(w * f)), max(MIN_PX, round(h * f))),
                             interpolation=cv2.INTER_AREA)
        images.append(np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return ImageBank(tuple(s[0] for s in stamps), tuple(images))


def sample_crops(n: int, generator: torch.Generator, count: int, scale: tuple[float, float],
                 flip: bool) -> Params:
    """Draw n crops of a bank of ``count`` images (see the module's docstring for the params)."""
    dev = generator.device
    lo, hi = scale

    def rand() -> torch.Tensor:
        return torch.rand(n, generator=generator, device=dev)

    index = torch.randint(0, count, (n,), generator=generator, device=dev)
    params = {"index": index, "scale": lo + (hi - lo) * rand(), "x": rand(), "y": rand()}
    # drawn even when mirroring is off, so that the option does not shift later draws
    mirror = (rand() < 0.5).long()
    params["flip"] = mirror if flip else torch.zeros_like(mirror)
    return params


def render_crops(bank: ImageBank, params: Params, size: tuple[int, int],
                 dtype: torch.dtype) -> torch.Tensor:
    """(n, 3, h, w) the crops ``params`` describe, resampled to ``size`` (bilinear, mip-mapped
    when the crop has more pixels than the window)."""
    h, w = size
    index = params["index"].long()
    dev, n, f64 = index.device, index.shape[0], torch.float64
    levels = bank.levels(dev, dtype)
    if n == 0:
        return levels[0].atlas.new_zeros(0, 3, h, w)
    dims = levels[0].dims[index]  # (n, 2) image height, width
    # image pixels per window pixel: the largest window-shaped crop, times scale
    s = params["scale"].to(f64) * torch.minimum(dims[:, 0] / h, dims[:, 1] / w)
    left = params["x"].to(f64) * (dims[:, 1] - s * w)
    top = params["y"].to(f64) * (dims[:, 0] - s * h)
    # window pixel centres as edge coordinates (index + 0.5) of the image, mirrored by flip
    cols = torch.arange(w, dtype=f64, device=dev) + 0.5
    cols = torch.where(params["flip"].view(-1, 1) > 0, w - cols, cols)
    u0 = left.view(-1, 1) + cols * s.view(-1, 1)  # (n, w)
    v0 = top.view(-1, 1) + (torch.arange(h, dtype=f64, device=dev) + 0.5) * s.view(-1, 1)
    plan = group_levels(torch.log2(s), len(levels))
    out: torch.Tensor | None = None
    for level, sel, weight in plan:
        lv = levels[level]
        m, k, scale = sel.shape[0], index[sel], 2.0 ** -level
        d = lv.dims[k]
        # clamped to the centres of the image's border pixels: never another image's rows
        u = torch.minimum((u0[sel] * scale).clamp(min=0.5), d[:, 1:] - 0.5)
        v = torch.minimum((v0[sel] * scale).clamp(min=0.5), d[:, :1] - 0.5)
        v = v + (k * lv.rows).view(-1, 1)
        xn = (2.0 / lv.atlas.shape[-1]) * u - 1.0
        yn = (2.0 / lv.atlas.shape[-2]) * v - 1.0
        grid = torch.stack([xn.view(m, 1, w).expand(m, h, w),
                            yn.view(m, h, 1).expand(m, h, w)], -1).to(dtype)
        res = F.grid_sample(lv.atlas, grid.view(1, m * h, w, 2), align_corners=False)
        res = res.view(3, m, h, w).transpose(0, 1) * weight.to(dtype).view(-1, 1, 1, 1)
        if len(plan) == 1:
            return res.contiguous()
        out = (res.new_zeros(n, 3, h, w) if out is None else out).index_add(0, sel, res)
    assert out is not None
    return out
