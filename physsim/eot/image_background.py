"""Photographs as backgrounds: a random window-shaped crop of one of the user's images.

``background: {kind: image, images: [photos/]}`` puts the object in front of real scenes. Each
sample picks one image (``index``), a zoom (``scale``: 1 shows the largest crop of the image with
the window's aspect ratio, 0.5 half of it), where the crop lies (``x``, ``y`` from 0 to 1: left
to right, top to bottom of the free room) and whether it is mirrored (``flip``). ``images_id``,
the same for every sample, fingerprints the images (their contents and order, and ``max_px``),
so that params saved against one set of images are refused against another instead of showing
other pictures.

All samples are drawn in one batch, without copying an image per sample: the images are stacked
one above the other into one tall atlas per mip level, each in rows of its own height (2x2 box
filter per level, as the object's texture is), and every sample reads the two levels whose pixel
size brackets its own, through one ``grid_sample`` per level over all samples that use it.
Coordinates are clamped to the centres of each image's border pixels, so the border repeats as
OpenCV's ``BORDER_REPLICATE`` does, and each image's slot in the atlas is filled out by
repeating its edges, so the rounding of a coordinate in a tall atlas still reads the same image.

Images are read once with Pillow (anything it opens; EXIF orientation applied, grey and 16-bit
images as 8-bit RGB, alpha dropped; JPEGs decoded straight at the reduced size when they are
larger than needed) and shrunk with OpenCV's area filter so that their long side is at most
``max_px``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from physsim.eot.base import Params
from physsim.eot.ranges import uniform, uniforms
from physsim.eot.warp import build_pyramid, group_levels, level_count
from physsim.errors import UserError

#: What a folder is searched for (not recursively, hidden files skipped), case-insensitive.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: The smallest image side accepted, in pixels (after shrinking to ``max_px``).
MIN_PX = 8
#: Banks kept in memory (the most recently loaded ones: a scene's, read when it is checked and
#: again when it is built, and perhaps one more).
_CACHED = 2


@dataclass(frozen=True)
class _Level:
    """One mip level of every image: the atlas and each image's size in it."""

    atlas: torch.Tensor  # (1, 3, rows, cols)
    dims: torch.Tensor  # (N, 2) float64 (height, width) of each image at this level
    top: torch.Tensor  # (N,) float64: the atlas row where each image starts


@dataclass
class ImageBank:
    """The images of one ``background: {kind: image}`` step, read and shrunk, in file order.

    Attributes:
        files: the image files, in the order ``index`` counts them.
        images: each as (h, w, 3) uint8 RGB.
        id: the fingerprint of the images' contents, their order and ``max_px`` (31 bits).
    """

    files: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    id: int
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
        sizes = [img.shape[:2] for img in self.images]
        count = level_count((max(s[0] for s in sizes), max(s[1] for s in sizes)))
        # each image's size at level l is its size divided by 2**l, rounded up
        dims = [[(math.ceil(h / 2**lv), math.ceil(w / 2**lv)) for h, w in sizes]
                for lv in range(count)]
        # each image's slot: its own rows plus one above and one below, as wide as the widest
        starts = [[0, *itertools.accumulate(h + 2 for h, _ in ds)] for ds in dims]
        cols = [max(w for _, w in ds) + 1 for ds in dims]
        atlases = [torch.empty(1, 3, s[-1], c, device=device, dtype=dtype)
                   for s, c in zip(starts, cols, strict=True)]
        for i, img in enumerate(self.images):  # one image's pyramid at a time
            rgb = torch.from_numpy(img).to(device).permute(2, 0, 1).unsqueeze(0).to(dtype) / 255
            for lv, level in build_pyramid(rgb, 0, count - 1).items():
                atlas, s = atlases[lv], starts[lv]
                atlas[:, :, s[i]:s[i + 1]] = F.pad(
                    level, (0, atlas.shape[-1] - level.shape[-1], 1, 1), mode="replicate")
        return [_Level(a, torch.tensor(d, dtype=torch.float64, device=device),
                       torch.tensor(s[:-1], dtype=torch.float64, device=device) + 1)
                for a, d, s in zip(atlases, dims, starts, strict=True)]


def _shown(path: str | Path) -> str:
    """A path as text for a message, even when its name is not valid UTF-8."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def image_files(refs: tuple[str, ...]) -> list[Path]:
    """The files ``refs`` names: files as given, each folder's images sorted by name.

    :class:`UserError` naming the path for an empty or unknown path, a folder that cannot be
    listed or holds no images.
    """
    files: list[Path] = []
    for ref in refs:
        if not ref.strip():
            raise UserError("an empty path (give an image file or a folder of images)")
        try:
            path = Path(ref).expanduser()
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if not p.name.startswith(".")
                               and p.suffix.lower() in EXTENSIONS and p.is_file())
                if not found:
                    raise UserError(f"no images in this folder (looked for "
                                    f"{', '.join(EXTENSIONS)})", _shown(ref))
                files.extend(found)
            elif path.is_file():
                files.append(path)
            else:
                raise UserError("no such file or folder", _shown(ref))
        except RuntimeError:  # expanduser: ~user with no such user
            raise UserError("no such user's home folder", _shown(ref)) from None
        except OSError as exc:
            raise UserError(f"cannot read ({exc.strerror or exc})", _shown(ref)) from None
    return files


#: (refs, max_px) -> (the files' (name, mtime, size), bank), oldest first
_banks: dict[tuple[tuple[str, ...], int], tuple[tuple[tuple[str, int, int], ...], ImageBank]] = {}


def load_images(refs: tuple[str, ...], max_px: int) -> ImageBank:
    """The bank of the images ``refs`` names (files or folders), long sides at most ``max_px``.

    Kept: asking again for the same files, unchanged on disk, returns the same bank (and a
    changed file replaces it). :class:`UserError` naming the file for a missing path, a file
    that is not an image Pillow reads, or an image too small (or too elongated) to keep
    :data:`MIN_PX` pixels on a side.
    """
    files = image_files(refs)
    stamps = []
    for f in files:
        try:
            st = f.stat()
        except OSError as exc:
            raise UserError(f"cannot read ({exc.strerror or exc})", _shown(f)) from None
        stamps.append((str(f), st.st_mtime_ns, st.st_size))
    key = (tuple(refs), max_px)
    known = _banks.pop(key, None)
    bank = known[1] if known and known[0] == tuple(stamps) else _load(files, max_px)
    _banks[key] = (tuple(stamps), bank)
    while len(_banks) > _CACHED:
        del _banks[next(iter(_banks))]
    return bank


def _load(files: list[Path], max_px: int) -> ImageBank:
    fingerprint = hashlib.sha256(f"max_px {max_px}".encode())
    images = []
    for f in files:
        img, digest = _read(f, max_px)
        images.append(img)
        fingerprint.update(digest)
    return ImageBank(tuple(str(f) for f in files), tuple(images),
                     int.from_bytes(fingerprint.digest()[:4], "big") >> 1)


def _read(path: Path, max_px: int) -> tuple[np.ndarray, bytes]:
    """(h, w, 3) uint8 RGB, long side at most ``max_px``; and the sha256 of the file's bytes."""
    where = _shown(path)
    try:
        with warnings.catch_warnings():
            # a large image is refused below, by its size; Pillow's own warning would be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with path.open("rb") as fh, Image.open(fh) as img:
                w, h = img.size
                f = min(1.0, max_px / max(w, h))
                short = round(min(w, h) * f)
                if short < MIN_PX:
                    shrunk = f" (shrunk to {max_px} px on its long side, {short} px)" \
                        if f < 1 else ""
                    raise UserError(f"the image is {w}x{h} px{shrunk}; a background needs at "
                                    f"least {MIN_PX} px on each side", where)
                img.draft("RGB", (math.ceil(w * f), math.ceil(h * f)))  # JPEG: decode smaller
                rgb = _rgb(ImageOps.exif_transpose(img))
                fh.seek(0)
                digest = hashlib.file_digest(fh, "sha256").digest()
    except Image.DecompressionBombError:
        raise UserError("the image is too large to read (over "
                        f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels)", where) from None
    except UnidentifiedImageError:
        raise UserError("cannot read this file as an image", where) from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UserError(f"cannot read this image ({reason})", where) from None
    ih, iw = rgb.shape[:2]
    f = min(1.0, max_px / max(ih, iw))
    if f < 1:
        size = (max(MIN_PX, round(iw * f)), max(MIN_PX, round(ih * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), digest


def _rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow image as (h, w, 3) uint8 RGB; 16-bit and float grey scaled, not clipped."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" else (65535.0 if a.max(initial=0) > 255 else 255.0)
        grey = np.round(np.clip(a / top, 0, 1) * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, 2)
    return np.array(img.convert("RGB"))  # a copy: torch wants writable arrays


def sample_crops(n: int, generator: torch.Generator, bank: ImageBank,
                 scale: tuple[float, float], flip: bool) -> Params:
    """Draw n crops of the images of ``bank`` (see the module's docstring for the params)."""
    dev = generator.device
    index = torch.randint(0, len(bank), (n,), generator=generator, device=dev)
    params = {"index": index,
              **uniforms({"scale": scale, "x": (0.0, 1.0), "y": (0.0, 1.0)}, n, generator)}
    # drawn even when mirroring is off, so that the option does not shift later draws
    mirror = (uniform((0.0, 1.0), n, generator) < 0.5).long()
    params["flip"] = mirror if flip else torch.zeros_like(mirror)
    params["images_id"] = torch.full((n,), bank.id, dtype=torch.int64, device=dev)
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
        # clamped to the centres of the image's border pixels (its edge repeats)
        u = torch.minimum((u0[sel] * scale).clamp(min=0.5), d[:, 1:] - 0.5)
        v = torch.minimum((v0[sel] * scale).clamp(min=0.5), d[:, :1] - 0.5)
        v = v + lv.top[k].view(-1, 1)
        xn = (2.0 / lv.atlas.shape[-1]) * u - 1.0
        yn = (2.0 / lv.atlas.shape[-2]) * v - 1.0
        grid = torch.stack([xn.view(m, 1, w).expand(m, h, w),
                            yn.view(m, h, 1).expand(m, h, w)], -1).to(dtype)
        res = F.grid_sample(lv.atlas, grid.view(1, m * h, w, 2), padding_mode="border",
                            align_corners=False)
        res = res.view(3, m, h, w).transpose(0, 1) * weight.to(dtype).view(-1, 1, 1, 1)
        if len(plan) == 1:
            return res.contiguous()
        out = (res.new_zeros(n, 3, h, w) if out is None else out).index_add(0, sel, res)
    assert out is not None
    return out
