"""Photographs as backgrounds (``background: {kind: image}``): crops read from real files,
checked against OpenCV's resampling, batched over images of different sizes without bleeding,
replayable, and refused with one line when the files are not usable."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from physsim.cli import cli
from physsim.eot.background import Background
from physsim.eot.base import params_from_json, params_to_json
from physsim.eot.config import EOTConfig
from physsim.eot.params import EOTParams
from physsim.eot.pipeline import Pipeline
from physsim.errors import UserError


def _write(path: Path, rgb: np.ndarray) -> Path:
    """Write float RGB in [0, 1] (or uint8) as the file ``path`` (lossless formats only)."""
    img = rgb if rgb.dtype == np.uint8 else np.round(rgb * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB image, uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    return np.round(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
                    * 255).astype(np.uint8)


def _params(**values: float) -> dict[str, torch.Tensor]:
    """One sample's crop params (index 0, no flip unless given)."""
    p = {"index": 0, "scale": 1.0, "x": 0.0, "y": 0.0, "flip": 0} | values
    return {k: torch.tensor([v], dtype=torch.int64 if k in ("index", "flip") else torch.float32)
            for k, v in p.items()}


def _bg(files: list[Path], **options: object) -> Background:
    return Background({"kind": "image", "images": [str(f) for f in files], **options})


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def test_whole_image_at_its_size_is_the_image_and_flip_mirrors_it(tmp_path: Path) -> None:
    img = _smooth(24, 32, 0)
    bg = _bg([_write(tmp_path / "a.png", img)])
    out = bg.generate(_params(), (24, 32), torch.float32)
    np.testing.assert_allclose(_hwc(out), img / 255.0, atol=1e-6)
    flipped = bg.generate(_params(flip=1), (24, 32), torch.float32)
    assert torch.equal(flipped, out.flip(-1))


def test_enlarged_crop_matches_cv2_warp_affine(tmp_path: Path) -> None:
    # a 40 x 60 image into a 32 x 32 window at scale 0.4: 0.5 image px per window px, a
    # 16 x 16 crop whose corner lands on pixel (11, 12)
    img = _smooth(40, 60, 1)
    bg = _bg([_write(tmp_path / "a.png", img)])
    out = _hwc(bg.generate(_params(scale=0.4, x=0.25, y=0.5), (32, 32), torch.float32))
    s, left, top = 0.5, 11.0, 12.0
    # window pixel j samples image pixel left + (j + 0.5) s - 0.5: its inverse as dst <- src
    m = np.array([[1 / s, 0, (0.5 - left) / s - 0.5], [0, 1 / s, (0.5 - top) / s - 0.5]])
    ref = cv2.warpAffine(img.astype(np.float32) / 255, m, (32, 32), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_shrunk_crop_is_box_filtered_like_cv2_inter_area(tmp_path: Path) -> None:
    img = _smooth(64, 64, 2)
    bg = _bg([_write(tmp_path / "a.png", img)])
    # scale 0.5 of the 64 px image in a 16 px window: a 32 x 32 crop at (16, 8), 2 px per pixel
    out = _hwc(bg.generate(_params(scale=0.5, x=0.5, y=0.25), (16, 16), torch.float32))
    ref = cv2.resize(img[8:40, 16:48].astype(np.float32) / 255, (16, 16),
                     interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_fine_detail_does_not_alias_when_shrunk(tmp_path: Path) -> None:
    # a one-pixel checkerboard seen at about 7 image pixels per window pixel: a camera sees
    # grey; point sampling would see black and white
    checker = (np.indices((256, 256)).sum(0) % 2 * 255).astype(np.uint8)
    bg = _bg([_write(tmp_path / "c.png", np.repeat(checker[..., None], 3, 2))])
    p = bg.sample(8, torch.Generator().manual_seed(0))
    p["scale"] = torch.linspace(0.85, 1.0, 8)
    out = bg.generate(p, (32, 32), torch.float32)
    assert (out - 0.5).abs().max() < 0.02


def test_images_of_different_sizes_share_a_batch_without_bleeding(tmp_path: Path) -> None:
    red = np.zeros((20, 30, 3), np.uint8)
    red[..., 0] = 255
    files = [_write(tmp_path / "0_red.png", red),
             _write(tmp_path / "1_big.png", _smooth(100, 80, 3)),
             _write(tmp_path / "2_wide.png", _smooth(12, 90, 4))]
    bg = _bg([tmp_path])
    p = bg.sample(48, torch.Generator().manual_seed(5))
    # the corners of the room too, and the extremes of the zoom
    p["x"][:8] = torch.tensor([0.0, 1.0] * 4)
    p["y"][:8] = torch.tensor([0.0, 0.0, 1.0, 1.0] * 2)
    p["scale"][:4] = 1.0
    p["scale"][4:8] = 0.2
    out = bg.generate(p, (24, 24), torch.float32)
    assert set(p["index"].tolist()) == {0, 1, 2}
    reds = out[p["index"] == 0]
    # not one value from another image: exactly no green or blue (red is 1 up to the
    # rounding of the bilinear and mip weights)
    assert reds[:, 1:].eq(0).all() and (reds[:, 0] - 1).abs().max() < 1e-6
    for i, f in enumerate(files):  # each sample as if its image were the only one
        own = p["index"] == i
        alone = _bg([f]).generate({k: v[own] for k, v in p.items()} | {
            "index": torch.zeros(int(own.sum()), dtype=torch.int64)}, (24, 24), torch.float32)
        torch.testing.assert_close(out[own], alone, atol=1e-5, rtol=0)


def test_folder_order_replay_chunks_and_determinism(tmp_path: Path) -> None:
    for name, seed in (("b.png", 0), ("a.bmp", 1), ("c.tif", 2)):
        _write(tmp_path / name, _smooth(40, 50, seed))
    (tmp_path / "notes.txt").write_text("not an image")
    bg = _bg([tmp_path])
    assert [Path(f).name for f in bg.bank.files] == ["a.bmp", "b.png", "c.tif"]
    p = bg.sample(12, torch.Generator().manual_seed(7))
    assert torch.equal(p["index"], bg.sample(12, torch.Generator().manual_seed(7))["index"])
    out = bg.generate(p, (20, 28), torch.float32)
    assert out.shape == (12, 3, 20, 28) and out.min() >= 0 and out.max() <= 1
    again = params_from_json(json.loads(json.dumps(params_to_json(p))))
    assert torch.equal(bg.generate(again, (20, 28), torch.float32), out)
    assert torch.equal(bg.generate({k: v[5:] for k, v in p.items()}, (20, 28), torch.float32),
                       out[5:])
    assert p["flip"].unique().tolist() == [0, 1]
    still = _bg([tmp_path], flip=False).sample(12, torch.Generator().manual_seed(7))
    assert still["flip"].eq(0).all() and torch.equal(still["scale"], p["scale"])


def test_grey_alpha_and_large_images_are_read_as_rgb_and_shrunk(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((30, 40), 128, np.uint8))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.dstack([np.full((300, 200, 3), 50, np.uint8),
                                      np.zeros((300, 200), np.uint8)]))
    bank = _bg([grey, rgba], max_px=64).bank
    assert bank.images[0].shape == (30, 40, 3) and (bank.images[0] == 128).all()
    assert bank.images[1].shape == (64, 43, 3) and (bank.images[1] == 50).all()


def test_pipeline_composites_the_object_over_the_photo(tmp_path: Path) -> None:
    photo = _write(tmp_path / "street.png", _smooth(120, 160, 6))
    pipe = Pipeline({"transforms": [{"pose": {"distance_m": [2, 6]}}, {"crop": {}},
                                    {"background": {"kind": "image", "images": [str(photo)]}}]},
                    output_size=(32, 32), size_mm=(500.0, 500.0))
    params = pipe.sample(6, torch.Generator().manual_seed(0))
    clear = pipe.render(torch.zeros(1, 4, 64, 64), params)[0]  # a transparent object
    bg = pipe.steps[-1].transform.generate(params["background"], (32, 32), torch.float32)
    torch.testing.assert_close(clear, bg, atol=1e-6, rtol=0)
    white = torch.ones(1, 4, 64, 64)
    seen = pipe.render(white, params)[0]
    assert seen.amax((1, 2, 3)).eq(1).all() and not torch.equal(seen, clear)


@pytest.mark.parametrize(("make", "options", "message"), [
    (None, {}, "kind: image needs images: a list of image files or folders"),
    (None, {"images": ["missing_dir"]}, "images: missing_dir: no such file or folder"),
    ("empty", {}, "no images in this folder"),
    ("text.png", {}, "text.png: cannot read this file as an image"),
    ("tiny.png", {}, "the image is 4x6 px; a background needs at least 8 px on each side"),
    ("ok.png", {"scale": [0, 1]}, "scale: must be > 0, got [0, 1]"),
    ("ok.png", {"max_px": 8}, "max_px: Input should be greater than or equal to 16"),
])
def test_unusable_images_are_one_line_naming_the_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: str | None,
        options: dict[str, object], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    if make == "empty":
        Path("empty").mkdir()
    elif make == "text.png":
        Path(make).write_text("not an image")
    elif make == "tiny.png":
        _write(Path(make), np.zeros((6, 4, 3), np.uint8))
    elif make is not None:
        _write(Path(make), _smooth(16, 16, 0))
    opts = ({"images": [make]} if make else {}) | options
    cfg = {"transforms": [{"pose": {}}, {"background": {"kind": "image", **opts}}]}
    with pytest.raises(UserError) as err:
        EOTConfig.parse(cfg)
    assert str(err.value).startswith("eot.transforms[1].background")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "flat", "images": ["x"]}, "images is only used with kind: image (kind is flat)"),
    ({"scale": [0.5, 1]}, "scale is only used with kind: image (kind is procedural)"),
    ({"kind": "image", "images": ["ok.png"], "gray": 0.5},
     "gray is only used with kind: flat (kind is image)"),
    ({"kind": "flat", "scenes": ["sky"]}, "scenes is only used with kind: procedural"),
    ({"kind": "image", "images": ["ok.png", ""]}, "an empty path"),
])
def test_options_of_another_kind_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             options: dict[str, object], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    _write(Path("ok.png"), _smooth(16, 16, 0))
    with pytest.raises(UserError) as err:
        EOTConfig.parse({"transforms": [{"background": options}]})
    assert message in str(err.value)


def test_one_path_may_be_given_without_a_list(tmp_path: Path) -> None:
    photo = _write(tmp_path / "one.png", _smooth(16, 16, 0))
    assert Background({"kind": "image", "images": str(photo)}).bank.files == (str(photo),)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds no pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                  0, 0, 0)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(cv2.imencode(".png", _smooth(32, 32, 0))[1].tobytes()[:200]),
     "cannot read this image ("),
    (lambda p: p.write_bytes(_png_header(70000, 70000)), "the image is too large to read"),
    (lambda p: _write(p, np.zeros((10, 2000, 3), np.uint8)),
     "the image is 2000x10 px (shrunk to 512 px on its long side, 3 px); a background needs at "
     "least 8 px on each side"),
])
def test_broken_huge_and_thin_images_are_one_line(tmp_path: Path, make: object,
                                                  message: str,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.png"
    make(path)  # type: ignore[operator]
    with pytest.raises(UserError) as err:
        _bg([path])
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value) and capfd.readouterr().err == ""  # no library noise


def test_names_that_are_not_utf8_are_shown(tmp_path: Path) -> None:
    import os

    bad = tmp_path / os.fsdecode(b"caf\xe9.png")
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError) as err:
        EOTConfig.parse({"transforms": [{"background": {"kind": "image", "images": [
            str(tmp_path)]}}]})
    assert "caf\\xe9.png: cannot read this file as an image" in str(err.value)
    str(err.value).encode("utf-8")  # printable


def test_hidden_files_are_skipped_and_sixteen_bit_grey_is_scaled(tmp_path: Path) -> None:
    (tmp_path / "._photo.png").write_bytes(b"macOS metadata")
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((12, 12), 32896, np.uint16))  # 50.2%
    bank = _bg([tmp_path]).bank
    assert [Path(f).name for f in bank.files] == ["deep.png"]
    assert (bank.images[0] == 128).all()


def test_replay_against_changed_images_is_refused(tmp_path: Path) -> None:
    for i in range(2):
        _write(tmp_path / f"{i}.png", _smooth(16, 16, i))
    cfg = {"transforms": [{"pose": {}}, {"background": {"kind": "image",
                                                        "images": [str(tmp_path)]}}]}
    pipe = Pipeline(cfg, output_size=(16, 16), size_mm=(100.0, 100.0))
    saved = pipe.sample(3, torch.Generator().manual_seed(0)).to_json()
    pipe.check(EOTParams.from_json(saved), "p.json")  # the same images: fine
    _write(tmp_path / "00_new.png", _smooth(16, 16, 9))  # shifts every index by one
    later = Pipeline(cfg, output_size=(16, 16), size_mm=(100.0, 100.0))
    with pytest.raises(UserError, match=r"^p\.json: background\.images_id: these params were "
                                        r"drawn from other images"):
        later.check(EOTParams.from_json(saved), "p.json")
    again = Pipeline(cfg | {"transforms": [{"pose": {}}, {"background": {
        "kind": "image", "images": [str(tmp_path)], "max_px": 64}}]},
        output_size=(16, 16), size_mm=(100.0, 100.0))
    assert again.steps[1].transform.bank.id != later.steps[1].transform.bank.id


def test_many_images_in_one_atlas_never_bleed() -> None:
    # 4000 8 x 8 images in one atlas of 40 000 rows: the float32 rounding of a coordinate is
    # a fraction of a row there, and must still read the same image (each slot repeats its
    # image's edges around it)
    from physsim.eot.image_background import ImageBank, render_crops

    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    bank = ImageBank(("r", "b") * 2000, (red, blue) * 2000, 0)
    g = torch.Generator().manual_seed(0)
    n = 256
    p = {"index": torch.randint(0, 4000, (n,), generator=g), "scale": torch.rand(n, generator=g)
         * 0.9 + 0.1, "x": torch.rand(n, generator=g).round(), "y": torch.rand(n, generator=g)
         .round(), "flip": torch.zeros(n, dtype=torch.int64)}
    out = render_crops(bank, p, (8, 8), torch.float32)
    is_red = p["index"] % 2 == 0
    reds, blues = out[is_red], out[~is_red]
    assert reds[:, 1:].eq(0).all() and blues[:, :2].eq(0).all()
    assert (reds[:, 0] - 1).abs().max() < 1e-6 and (blues[:, 2] - 1).abs().max() < 1e-6


def test_replayed_params_outside_the_bank_are_refused(tmp_path: Path) -> None:
    photos = [_write(tmp_path / f"{i}.png", _smooth(16, 16, i)) for i in range(2)]
    pipe = Pipeline({"transforms": [{"pose": {}}, {"background": {
        "kind": "image", "images": [str(p) for p in photos]}}]},
        output_size=(16, 16), size_mm=(100.0, 100.0))
    params = pipe.sample(3, torch.Generator().manual_seed(0))
    data = params.to_json()
    data["transforms"]["background"]["index"] = [0, 1, 2]
    with pytest.raises(UserError, match=r"^p\.json: background\.index must be an image number "
                                        r"from 0 to 1, got 2$"):
        pipe.check(EOTParams.from_json(data), "p.json")
    data["transforms"]["background"]["index"] = [0, 1, 1]
    data["transforms"]["background"]["flip"] = [0, 2, 1]
    with pytest.raises(UserError, match=r"background\.flip must be 0 or 1, got 2"):
        pipe.check(EOTParams.from_json(data), "p.json")


def test_eot_preview_puts_a_sign_in_front_of_photos(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("photos").mkdir()
    for i in range(3):
        _write(Path("photos") / f"p{i}.jpg", _smooth(90, 120, i))
    Path("scene.yaml").write_text(
        "eot:\n  transforms:\n    - pose: {}\n    - crop: {}\n"
        "    - background: {kind: image, images: [photos], scale: [0.3, 1.0]}\n")
    result = CliRunner().invoke(cli, ["eot-preview", "scene.yaml", "-n", "4", "--size", "32",
                                      "-o", "sheet.png", "--save-params", "p.json"])
    assert result.exit_code == 0, result.output
    assert cv2.imread("sheet.png") is not None
    saved = json.loads(Path("p.json").read_text())["transforms"]["background"]
    assert set(saved) == {"index", "scale", "x", "y", "flip", "images_id"}
    assert len(saved["index"]) == 4


def test_small_images_beside_a_large_one_take_their_own_rows() -> None:
    from physsim.eot.image_background import ImageBank

    big, small = np.zeros((512, 512, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)
    bank = ImageBank(("big", *["small"] * 50), (big, *[small] * 50), 0)
    atlas = bank.levels(torch.device("cpu"), torch.float32)[0].atlas
    assert atlas.shape == (1, 3, 514 + 50 * 18, 513)  # not 51 slots of 514 rows (400 MB)
