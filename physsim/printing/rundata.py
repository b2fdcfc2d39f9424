"""What ``physsim print`` reads from a run directory, checked and in physical units.

A run directory holds ``artefact.png`` (RGBA texture), ``mask.png`` (where the attack changed
the texture) and ``scene.yaml``. The physical size of the artefact comes from the run's
``object.json`` (its ``size_mm``); without one, from the registered object the scene names;
when that object is not installed, from the PNG's DPI metadata, which ``physsim run`` writes so
that the file alone prints at the right size. Whatever the source, each side must be a number
above 0 and at most :data:`MAX_SIDE_MM` (10 m); a bad ``object.json`` is a UserError naming it.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from physsim.errors import UserError
from physsim.scene import read_yaml

MM_PER_INCH = 25.4
#: the object's size and the artefact's pixel grid may disagree by rounding, not more
ASPECT_TOLERANCE = 0.02
#: the largest side printed, in mm (10 m: about 2,300 A4 sheets, a few seconds of work); more
#: is a unit typo (a size in micrometres), which would otherwise run for minutes
MAX_SIDE_MM = 10_000.0


@dataclass(frozen=True)
class RunArtefact:
    """The printable content of one run.

    Attributes:
        run_dir: the run directory.
        rgba: the artefact, shape (H, W, 4), uint8; alpha 0 outside the object's outline.
        mask: where the attack changed the texture, shape (H, W), bool (all False if the run
            has no ``mask.png``).
        size_mm: physical (width, height) of the artefact's full extent, in millimetres.
        size_source: ``"run"`` (the run's ``object.json``), ``"object"`` (the registered
            object's ``size_mm``) or ``"png_dpi"``.
        sha256: hex digest of ``artefact.png``'s bytes.
        scene: the scene's name (the run directory's name if ``scene.yaml`` is missing).
        seed: the scene's seed, or None.
        object_name: the registered object's name, or None.
        attack_name: the attack's name, or None.
    """

    run_dir: Path
    rgba: np.ndarray
    mask: np.ndarray
    size_mm: tuple[float, float]
    size_source: str
    sha256: str
    scene: str
    seed: int | None
    object_name: str | None
    attack_name: str | None

    @property
    def mm_per_px(self) -> tuple[float, float]:
        """Physical size of one artefact pixel, (x, y), in millimetres."""
        h, w = self.rgba.shape[:2]
        return self.size_mm[0] / w, self.size_mm[1] / h


def _read_image(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert(mode) if img.mode != mode else img.copy()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise UserError(f"cannot read the image ({exc})", str(path)) from None


def _read_scene(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "scene.yaml"
    if not path.is_file():
        warnings.warn(f"{path} is missing: scene name, seed and object unknown", stacklevel=3)
        return {}
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UserError("expected a mapping (the scene as run)", str(path))
    return data


def _name_of(scene: dict[str, Any], key: str) -> str | None:
    ref = scene.get(key)
    name = ref.get("name") if isinstance(ref, dict) else None
    return str(name) if name else None


def _side_ok(value: Any) -> bool:
    """A number in (0, MAX_SIDE_MM]: NaN fails both comparisons, infinity the second."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return 0 < float(value) <= MAX_SIDE_MM
    except OverflowError:  # an integer too large for a float (JSON has no limit)
        return False


def _valid_size(size: Any) -> tuple[float, float] | None:
    """``size`` as (width, height) if it is two numbers in (0, MAX_SIDE_MM], else None."""
    if not isinstance(size, list | tuple) or len(size) != 2 or not all(map(_side_ok, size)):
        return None
    return float(size[0]), float(size[1])


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr)  # NaN and Infinity as JSON writes them
    return text if len(text) <= 40 else text[:37] + "..."


def _recorded_size(run_dir: Path) -> tuple[float, float] | None:
    """The object's size as the run recorded it in ``object.json`` (None if absent)."""
    path = run_dir / "object.json"
    if not path.is_file():
        return None
    try:
        size = json.loads(path.read_text())["size_mm"]
    except (ValueError, KeyError, TypeError):
        raise UserError("expected {\"size_mm\": [width, height]}", str(path)) from None
    valid = _valid_size(size)
    if valid is None:
        raise UserError(f"size_mm must be [width, height] in mm, each above 0 and at most "
                        f"{MAX_SIDE_MM:g}, not {_shown(size)}", str(path))
    return valid


def _object_size(name: str | None) -> tuple[float, float] | None:
    """The registered object's ``size_mm``, or None if it is not installed."""
    if name is None:
        return None
    from physsim.plugins import lookup

    try:
        size = getattr(lookup("object", name), "size_mm", None)
    except UserError as exc:
        warnings.warn(f"{exc}; using the artefact's DPI for its size instead", stacklevel=4)
        return None
    # the class default (0, 0) means "known only once loaded": the PNG's DPI tells it then
    return _valid_size(size)


def _dpi_size(img: Image.Image, path: Path) -> tuple[float, float]:
    dpi = img.info.get("dpi")
    if not dpi or min(float(d) for d in dpi) <= 1.0:
        raise UserError("no DPI metadata and no registered object: the physical size is "
                        "unknown", str(path))
    w, h = img.size
    size = w / float(dpi[0]) * MM_PER_INCH, h / float(dpi[1]) * MM_PER_INCH
    if max(size) > MAX_SIDE_MM:
        raise UserError(f"its DPI metadata makes it {size[0]:.0f} x {size[1]:.0f} mm, more than "
                        f"the {MAX_SIDE_MM:g} mm a side that is printed", str(path))
    return size


def _check_aspect(size_mm: tuple[float, float], shape: tuple[int, ...], path: Path) -> None:
    h, w = shape[:2]
    ratio = (size_mm[0] / w) / (size_mm[1] / h)
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        warnings.warn(f"{path}: {w}x{h} px do not have the object's aspect "
                      f"{size_mm[0]:g}x{size_mm[1]:g} mm; printing at the object's size",
                      stacklevel=3)


def artefact_path(run_dir: Path) -> Path:
    """``run_dir/artefact.png``, or a :class:`UserError` naming what is missing."""
    if not run_dir.is_dir():
        raise UserError("run directory not found", str(run_dir))
    path = run_dir / "artefact.png"
    if not path.is_file():
        raise UserError("no artefact.png: this run produced nothing to print", str(path))
    return path


def load_run(run_dir: Path) -> RunArtefact:
    """Read and check the printable parts of ``run_dir``.

    Raises:
        UserError: the directory or its ``artefact.png`` is missing or unreadable, ``mask.png``
            does not match the artefact, or the physical size cannot be told.
    """
    art_path = artefact_path(run_dir)
    data = art_path.read_bytes()
    img = _read_image(art_path, "RGBA")
    rgba = np.asarray(img)
    mask = np.zeros(rgba.shape[:2], bool)
    mask_path = run_dir / "mask.png"
    if mask_path.is_file():
        mask_img = _read_image(mask_path, "L")
        if mask_img.size != img.size:
            raise UserError(f"mask is {mask_img.width}x{mask_img.height} px, the artefact "
                            f"{img.width}x{img.height} px", str(mask_path))
        mask = np.asarray(mask_img) > 127
    scene = _read_scene(run_dir)
    obj = _name_of(scene, "object")
    size, source = _recorded_size(run_dir), "run"
    if size is None:
        size, source = _object_size(obj), "object"
    if size is None:
        size, source = _dpi_size(img, art_path), "png_dpi"
    _check_aspect(size, rgba.shape, art_path)
    seed = scene.get("seed")
    return RunArtefact(
        run_dir=run_dir, rgba=rgba, mask=mask, size_mm=size, size_source=source,
        sha256=hashlib.sha256(data).hexdigest(), scene=str(scene.get("name") or run_dir.name),
        seed=int(seed) if isinstance(seed, int) else None, object_name=obj,
        attack_name=_name_of(scene, "attack"),
    )
