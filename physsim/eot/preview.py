"""``physsim eot-preview``: a contact sheet of an object under a scene's EOT distribution.

It answers "what does the attack's world look like?" before any optimisation: n renders of the
object, each captioned with its distance and yaw, written as one PNG. Some params can be given
instead of drawn (``--fix pose.distance_m=2,4,8,16``: the object at those distances), and params
can be saved and replayed, so a sheet can be reproduced exactly or compared across code
versions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np
import torch

from physsim.device import resolve_device
from physsim.errors import UserError
from physsim.outputs import check_output, json_bytes, write_together
from physsim.scene import SEED_MAX, read_yaml

#: the largest window: a sheet of 16 such windows is about 0.8 GB of float32 renders
MAX_SIZE = 2048


def read_scene_eot(scene: str
                   ) -> tuple[dict[str, Any] | None, tuple[str, str] | None, bool]:
    """A scene (registered name or YAML path) -> (its ``eot:`` mapping; its object's name and
    the field it came from: the object's, or a patch scene's first; whether it is a digital
    scene, one with ``data:``).

    :class:`UserError` for a digital scene with no ``eot:`` section: nothing of it goes
    through EOT.
    """
    from physsim.plugins import lookup

    path = Path(scene)
    if not path.is_file():
        if scene.endswith((".yaml", ".yml")):
            raise UserError("scene file not found", scene)
        path = lookup("scene", scene, "SCENE")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError("a scene file must be a mapping", str(path))
    obj, field = data.get("object"), "object.name"
    name = obj.get("name") if isinstance(obj, dict) else obj
    if obj is not None and not isinstance(name, str):
        raise UserError(f"object: expected an object's name, or a mapping with a name, got "
                        f"{obj!r}", str(path))
    patch = data.get("patch")
    if name is None and isinstance(patch, dict) and patch.get("objects") is not None:
        objects = patch["objects"]
        if not isinstance(objects, list) or not objects or \
                not all(isinstance(o, str) for o in objects):
            raise UserError(f"patch.objects: expected a list of object names, got {objects!r}",
                            str(path))
        name, field = objects[0], "patch.objects[0]"
    if "data" in data and data.get("eot") is None:
        raise UserError("a digital scene with no eot: section: nothing of it is rendered "
                        "through EOT", str(path))
    return data.get("eot"), (name, field) if name is not None else None, "data" in data


def read_texture(path: Path) -> torch.Tensor:
    """An image file -> (4, H, W) float RGBA in [0, 1] (opaque if it has no alpha)."""
    if not path.is_file():
        raise UserError("cannot read image: no such file", str(path))
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError("cannot read image (not an image file OpenCV reads)", str(path))
    # 8 and 16 bits are scaled to [0, 1]; floating-point images (TIFF, EXR) are taken as they
    # are and must lie in [0, 1]
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0,
             np.dtype(np.float32): 1.0, np.dtype(np.float64): 1.0}.get(img.dtype)
    if scale is None:
        raise UserError(f"cannot read {img.dtype} samples: give an 8 or 16-bit image, or "
                        "floating point in [0, 1]", str(path))
    img = img.astype(np.float32) / scale
    if np.isnan(img).any():
        raise UserError("values must be in [0, 1], got NaN (not a number)", str(path))
    if img.min() < 0 or img.max() > 1:
        raise UserError(f"values must be in [0, 1], got [{img.min():g}, {img.max():g}]",
                        str(path))
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    rgb = img[..., 2::-1] if img.shape[2] >= 3 else img
    alpha = img[..., 3:4] if img.shape[2] == 4 else np.ones_like(img[..., :1])
    return torch.from_numpy(np.concatenate([rgb, alpha], 2).copy()).permute(2, 0, 1)


def load_object(name: str, where: str = "--object") -> tuple[torch.Tensor, tuple[float, float]]:
    """A registered object's texture (4, H, W) and size in mm (``where``: for errors)."""
    from physsim.plugins import lookup

    tex = lookup("object", name, where)().load()
    return tex.texture, tex.size_mm


def contact_sheet(images: torch.Tensor, captions: list[str], tile: int) -> np.ndarray:
    """(n, 3, h, w) images in [0, 1] -> an RGB uint8 grid with a caption under each image."""
    n = images.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    factor = max(1, math.ceil(96 / tile))  # small windows are enlarged (nearest) to be seen
    cell = tile * factor
    strip = max(14, cell // 8)
    sheet = np.full((rows * (cell + strip), cols * cell, 3), 255, np.uint8)
    arr = (images.detach().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (cell + strip), c * cell
        img = arr[i].transpose(1, 2, 0).repeat(factor, 0).repeat(factor, 1)
        sheet[y:y + cell, x:x + cell] = img
        cv2.putText(sheet, captions[i], (x + 2, y + cell + strip - 4), cv2.FONT_HERSHEY_SIMPLEX,
                    strip / 36, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def parse_fixed(items: tuple[str, ...], n: int | None) -> tuple[dict[str, torch.Tensor], int]:
    """``--fix NAME=V[,V...]`` options -> ({dotted name: values}, the number of samples).

    A name takes one value (every sample) or one per sample; the number of samples is ``n``
    when given, else the length of the lists given (16 when every name has one value).
    """
    fixed: dict[str, torch.Tensor] = {}
    lengths: dict[str, int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or "." not in name:
            raise UserError(f"expected STEP.PARAM=VALUE[,VALUE...] (e.g. pose.distance_m=2,4,8),"
                            f" got {item!r}", "--fix")
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise UserError(f"{name}: expected numbers separated by commas, got {text!r}",
                            "--fix") from None
        if name in fixed:
            raise UserError(f"{name} is given twice", "--fix")
        fixed[name] = torch.tensor(values, dtype=torch.float64)
        if len(values) > 1:
            lengths[name] = len(values)
    count = n if n is not None else next(iter(lengths.values()), 16)
    for name, length in lengths.items():
        if length != count:
            raise UserError(f"{name} has {length} values for {count} samples (give one value, "
                            f"or one per sample)", "--fix")
    return fixed, count


def captions_for(meta: dict[str, torch.Tensor], n: int) -> list[str]:
    """"4.5m yaw+30" per sample, or the sample number when there is no pose."""
    if "distance_m" not in meta:
        return [f"#{i}" for i in range(n)]
    d, yaw = meta["distance_m"].tolist(), meta["yaw_deg"].tolist()
    return [f"{d[i]:.1f}m yaw{yaw[i]:+.0f}" for i in range(n)]


@click.command("eot-preview")
@click.argument("scene", required=False)
@click.option("--object", "object_name", default=None,
              help="Registered object to show (default: the scene's, else stop_sign).")
@click.option("--texture", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="An image file (PNG with alpha for a shaped object) instead of an object.")
@click.option("--size-mm", nargs=2, type=float, default=None,
              help="Physical width and height of --texture, millimetres.")
@click.option("-n", "n", type=click.IntRange(min=1), default=None,
              help="How many samples to render.  [default: 16, or the length of --fix lists]")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=None,
              help="Seed of the EOT draws.  [default: 0]")
@click.option("--size", type=click.IntRange(min=8, max=MAX_SIZE), default=128,
              show_default=True, help="Window size in pixels.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("eot_preview.png"), show_default=True, help="PNG to write.")
@click.option("--save-params", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the drawn params (JSON) here.")
@click.option("--fix", "fix", multiple=True, metavar="STEP.PARAM=V[,V...]",
              help="Give a param instead of drawing it: one value for every sample, or one "
                   "per sample (e.g. --fix pose.distance_m=2,4,8,16 --fix pose.yaw_deg=0). "
                   "Repeatable.")
@click.option("--params", "params_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Replay params saved by --save-params instead of drawing.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--force", is_flag=True, help="Overwrite an existing PNG or params file.")
def eot_preview(scene: str | None, object_name: str | None, texture: Path | None,
                size_mm: tuple[float, float] | None, n: int | None, seed: int | None,
                size: int,
                output: Path, save_params: Path | None, fix: tuple[str, ...],
                params_path: Path | None, device: str, force: bool) -> None:
    """Render an object under SCENE's EOT (default: the built-in physical pipeline) as a PNG
    contact sheet captioned with distance and yaw."""
    from physsim.eot.params import EOTParams
    from physsim.eot.pipeline import EOTConfig, Pipeline

    if params_path is not None and (fix or n is not None or seed is not None):
        raise UserError("--params replays saved samples: it takes neither --fix, -n nor "
                        "--seed", "eot-preview")
    dev = resolve_device(device, "--device")
    fixed, count = parse_fixed(fix, n)
    eot, scene_object, digital = read_scene_eot(scene) if scene else (None, None, False)
    tex, obj_mm = _object(texture, size_mm, object_name, scene, scene_object, digital)
    # its ranges are checked against the object's size as the pipeline is built, unless the
    # distances are given (--fix, --params): then only the samples themselves are checked
    given = params_path is not None or "pose.distance_m" in fixed
    try:
        pipe = Pipeline(EOTConfig.parse(eot), output_size=(size, size), size_mm=obj_mm,
                        device=dev, check_reach=not given)
    except UserError as exc:  # name the scene file the section came from
        raise UserError(str(exc), scene) if scene else exc from None
    # before any rendering; what the command reads is never written over: the texture, the
    # params, the scene, and the files its steps read (background photos, a printer profile)
    read = [texture, params_path, Path(scene) if scene else None]
    for step in pipe.inputs().values():
        read += [Path(f) for f in step.get("images", [])]
        if "profile" in step:
            read.append(Path(step["profile"]))
    _check_outputs(output, save_params, force, tuple(read))
    if params_path is not None:
        try:
            data = json.loads(params_path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read params: {exc}", str(params_path)) from None
        where = str(params_path)
        params = pipe.check(EOTParams.from_json(data, pipe.device, pipe.dtype, where), where)
    else:
        gen = torch.Generator(device=pipe.device).manual_seed(seed or 0)
        params = pipe.sample(count, gen, fixed, where="--fix")  # given values: checked
    with torch.no_grad():
        images = pipe.render(tex.unsqueeze(0), params)[0]
    sheet = contact_sheet(images, captions_for(pipe.render_meta(params), params.n), size)
    ok, png = cv2.imencode(".png", sheet[..., ::-1])
    if not ok:
        raise UserError("cannot encode the contact sheet as PNG", str(output))
    # written only once everything has rendered, both or neither
    files = {output: png.tobytes()}
    if save_params is not None:
        files[save_params] = json_bytes(params.to_json())
    write_together(files)
    click.echo(f"wrote {output} ({params.n} samples)")


def _check_outputs(output: Path, save_params: Path | None, force: bool,
                   inputs: tuple[Path | None, ...]) -> None:
    """The PNG and the params file can be written, before any work (see check_output)."""
    if output.suffix.lower() != ".png":
        raise UserError("the contact sheet is a PNG: give a file name ending in .png",
                        f"--output {output}")
    check_output(output, "--output", force, inputs)
    if save_params is not None:
        check_output(save_params, "--save-params", force, inputs)
        if save_params.resolve() == output.resolve():
            raise UserError("--save-params and --output are the same file", str(output))


def _object(texture: Path | None, size_mm: tuple[float, float] | None,
            object_name: str | None, scene: str | None, scene_object: tuple[str, str] | None,
            digital: bool) -> tuple[torch.Tensor, tuple[float, float]]:
    """The texture (4, H, W) and its size in mm: a file, a named object, the scene's object
    or (with no scene, or a physical scene without an object) the stop sign."""
    if texture is not None and object_name is not None:
        raise UserError("give --texture or --object, not both", "eot-preview")
    if texture is None and size_mm is not None:
        raise UserError("--size-mm is the size of --texture: give both, or neither",
                        "eot-preview")
    if texture is None and object_name is None and digital:
        raise UserError("a digital scene prints its data images, not an object: to see its "
                        "eot: section, give --texture FILE --size-mm W H (e.g. "
                        "data.print_size_mm) or --object NAME", scene)
    if texture is None:
        if object_name or not scene_object:
            return load_object(object_name or "stop_sign", "--object")
        return load_object(scene_object[0], f"{scene}: {scene_object[1]}")
    if size_mm is None:
        raise UserError("--texture needs --size-mm WIDTH HEIGHT", "eot-preview")
    if not all(math.isfinite(v) and v > 0 for v in size_mm):
        raise UserError(f"expected a positive width and height in mm, got "
                        f"{' '.join(f'{v:g}' for v in size_mm)}", "--size-mm")
    return read_texture(texture), size_mm
