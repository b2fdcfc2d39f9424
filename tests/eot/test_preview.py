"""``physsim eot-preview``: a contact sheet of an object, saved and replayed params."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from eot_textures import make_texture

from physsim.cli import cli
from physsim.errors import UserError
from physsim.hookspecs import hookimpl
from physsim.objects import ObjectTexture, PhysicalObject
from physsim.plugins import load_plugins, pm


class _Disc(PhysicalObject):
    name = "eot_test_disc"
    label = "disc"
    size_mm = (500.0, 500.0)

    def load(self) -> ObjectTexture:
        tex = make_texture(64)
        return ObjectTexture(tex, tex[3:], self.size_mm, self.label, self.name)


class _DiscPlugin:
    @hookimpl
    def register_objects(self, register: Callable[[type[PhysicalObject]], None]) -> None:
        register(_Disc)


@pytest.fixture
def disc_object() -> Iterator[str]:
    load_plugins()
    pm.register(_DiscPlugin(), name="eot_test_disc_plugin")
    try:
        yield _Disc.name
    finally:
        pm.unregister(name="eot_test_disc_plugin")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["eot-preview", *args])
    return result.exit_code, result.output


def test_sheet_of_a_registered_object_and_replay(tmp_path: Path, disc_object: str) -> None:
    sheet, params = tmp_path / "sheet.png", tmp_path / "p.json"
    code, out = _run("--object", disc_object, "-n", "5", "--size", "24", "--seed", "3",
                     "-o", str(sheet), "--save-params", str(params))
    assert code == 0, out
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] > 96 and img.shape[1] >= 3 * 96
    saved = json.loads(params.read_text())
    assert saved["n"] == 5 and "pose" in saved["transforms"]
    again = tmp_path / "again.png"
    code, out = _run("--object", disc_object, "--size", "24", "-o", str(again), "--params",
                     str(params))
    assert code == 0, out
    assert np.array_equal(cv2.imread(str(again)), img)


def test_fixed_distances_and_angles(tmp_path: Path, disc_object: str) -> None:
    sheet, params = tmp_path / "sheet.png", tmp_path / "p.json"
    code, out = _run("--object", disc_object, "--size", "16", "-o", str(sheet),
                     "--fix", "pose.distance_m=2,4,8", "--fix", "pose.yaw_deg=0,30,-45",
                     "--fix", "jpeg.quality=90", "--save-params", str(params))
    assert code == 0 and "(3 samples)" in out, out
    saved = json.loads(params.read_text())["transforms"]
    assert saved["pose"]["distance_m"] == [2.0, 4.0, 8.0]
    assert saved["pose"]["yaw_deg"] == [0.0, 30.0, -45.0]
    assert saved["jpeg"]["quality"] == [90.0] * 3
    # the other params are the seed's draws, whatever is fixed
    plain = tmp_path / "plain.json"
    code, out = _run("--object", disc_object, "--size", "16", "-n", "3", "-o",
                     str(tmp_path / "plain.png"), "--save-params", str(plain))
    assert code == 0, out
    assert json.loads(plain.read_text())["transforms"]["lighting"] == saved["lighting"]


@pytest.mark.parametrize(("fix", "message"), [
    (["pose.distance_m=-1"], "--fix: pose.distance_m must be positive"),
    (["pose.yaw_deg=95"], "--fix: pose.yaw_deg must be strictly between -90 and 90"),
    (["pose.distance=3"], "--fix: unknown EOT parameter 'pose.distance'"),
    (["pose.distance_m=2,3", "pose.yaw_deg=1,2,3"],
     "--fix: pose.yaw_deg has 3 values for 2 samples"),
    (["pose.distance_m=far"], "--fix: pose.distance_m: expected numbers separated by commas, "
     "got 'far'"),
    (["distance=3"], "--fix: expected STEP.PARAM=VALUE[,VALUE...]"),
    (["pose.yaw_deg=1", "pose.yaw_deg=2"], "--fix: pose.yaw_deg is given twice"),
])
def test_bad_fixed_params_write_nothing(tmp_path: Path, disc_object: str, fix: list[str],
                                        message: str) -> None:
    sheet, params = tmp_path / "sheet.png", tmp_path / "p.json"
    sheet.write_bytes(b"an earlier sheet")
    args = [a for f in fix for a in ("--fix", f)]
    code, out = _run("--object", disc_object, "--size", "16", "-o", str(sheet), "--force",
                     "--save-params", str(params), *args)
    assert code == 2 and out.startswith(f"Error: {message}") and out.count("\n") == 1, out
    assert sheet.read_bytes() == b"an earlier sheet" and not params.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_earlier_files_are_kept_and_inputs_never_overwritten(tmp_path: Path,
                                                             disc_object: str) -> None:
    sheet, params = tmp_path / "sheet.png", tmp_path / "p.json"
    args = ["--object", disc_object, "-n", "2", "--size", "16"]
    assert _run(*args, "-o", str(sheet), "--save-params", str(params))[0] == 0
    first = sheet.read_bytes(), params.read_bytes()
    code, out = _run(*args, "--seed", "5", "-o", str(sheet))
    assert code == 2 and "--output: exists already (add --force to overwrite it)" in out
    code, out = _run(*args, "--seed", "5", "-o", str(tmp_path / "new.png"), "--save-params",
                     str(params))
    assert code == 2 and "--save-params: exists already" in out
    assert (sheet.read_bytes(), params.read_bytes()) == first
    assert not (tmp_path / "new.png").exists()
    # --force overwrites earlier outputs, never the files the command reads
    code, out = _run(*args, "--seed", "5", "-o", str(sheet), "--force")
    assert code == 0 and sheet.read_bytes() != first[0]
    code, out = _run("--object", disc_object, "--size", "16", "--params", str(params),
                     "--save-params", str(params), "--force", "-o", str(tmp_path / "b.png"))
    assert code == 2 and "--save-params: this is an input of the command" in out
    code, out = _run("--texture", str(sheet), "--size-mm", "300", "300", "-o", str(sheet),
                     "--force")
    assert code == 2 and "--output: this is an input of the command" in out
    code, out = _run(*args, "-o", str(tmp_path / "c.png"), "--save-params",
                     str(tmp_path / "c.png"))
    assert code == 2 and "--save-params and --output are the same file" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "mps"], "Error: --device: not a device name: 'mps'"),
    (["--seed", "-1"], "is not in the range 0<=x<="),
    (["--texture", "t.png", "--size-mm", "nan", "100"],
     "Error: --size-mm: expected a positive width and height in mm, got nan 100"),
    (["scene.yaml"], "Error: scene.yaml: object.name: unknown object 'stopsign'"),
])
def test_bad_options_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("t.png", np.zeros((8, 8, 3), np.uint8))
    Path("scene.yaml").write_text("object: {name: stopsign}\n")
    code, out = _run(*args, "-o", "o.png")
    assert code == 2 and message in out and "Traceback" not in out, out
    assert not Path("o.png").exists()


def test_texture_file_and_scene_file(tmp_path: Path) -> None:
    tex = (make_texture(48).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    png = tmp_path / "tex.png"
    cv2.imwrite(str(png), cv2.cvtColor(tex, cv2.COLOR_RGBA2BGRA))
    scene = tmp_path / "scene.yaml"
    scene.write_text("eot:\n  transforms:\n    - pose: {distance_m: 3}\n    - crop: {}\n")
    code, out = _run(str(scene), "--texture", str(png), "--size-mm", "400", "400", "-n", "2",
                     "--size", "16", "-o", str(tmp_path / "s.png"))
    assert code == 0, out
    assert "wrote" in out and (tmp_path / "s.png").is_file()


def test_given_distances_are_checked_instead_of_the_range(tmp_path: Path) -> None:
    """A 6 m object is too large for the default range (from 1.5 m) and is refused; with its
    distances given, only they are checked: far enough renders, too near is refused naming
    the sample, and nothing is written."""
    tex = (make_texture(48).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    png = tmp_path / "tex.png"
    cv2.imwrite(str(png), cv2.cvtColor(tex, cv2.COLOR_RGBA2BGRA))
    args = ["--texture", str(png), "--size-mm", "6000", "6000", "--size", "16"]
    code, out = _run(*args, "-o", str(tmp_path / "a.png"))
    assert code == 2 and "keep it at least" in out and not (tmp_path / "a.png").exists()
    code, out = _run(*args, "--fix", "pose.distance_m=40,60", "-o", str(tmp_path / "b.png"))
    assert code == 0 and (tmp_path / "b.png").is_file(), out
    code, out = _run(*args, "--fix", "pose.distance_m=40,0.5", "-o", str(tmp_path / "c.png"))
    assert code == 2 and "sample 1" in out and not (tmp_path / "c.png").exists(), out


@pytest.mark.parametrize(("args", "message"), [
    (["--object", "no_such_object_xyz"], "unknown object 'no_such_object_xyz'"),
    (["--texture", "missing.png", "--size-mm", "1", "1"], "cannot read image"),
    (["--texture", "x.png"], "--texture needs --size-mm"),
    (["nope.yaml"], "scene file not found"),
    (["--params", "missing.json", "--texture", "t.png", "--size-mm", "1", "1"],
     "cannot read"),
    (["--params", "p.json", "--fix", "pose.distance_m=3"], "it takes neither --fix, -n nor "
     "--seed"),
    (["--params", "p.json", "--seed", "3"], "it takes neither --fix, -n nor --seed"),
    (["--size-mm", "200", "200"], "--size-mm is the size of --texture: give both, or neither"),
    (["--texture", "t.png", "--size-mm", "1", "1", "--object", "stop_sign"],
     "give --texture or --object, not both"),
    (["classic_sweep_digits"], "a digital scene with no eot: section"),
    (["printed_photo"], "printed_photo: a digital scene prints its data images, not an object"),
    (["--save-params", "no_such_folder/p.json"], "--save-params: the folder no_such_folder "
     "does not exist"),
])
def test_user_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("t.png", np.zeros((8, 8, 3), np.uint8))
    code, out = _run(*args, "-o", "o.png")
    assert code == 2, out
    assert message in out and "Traceback" not in out


def _replay_changed(tmp_path: Path, disc_object: str,
                    change: Callable[[dict], object]) -> tuple[int, str, Path]:
    """Save two samples' params, ``change`` the document, replay it: (status, output, file)."""
    saved = tmp_path / "p.json"
    code, out = _run("--object", disc_object, "-n", "2", "--size", "16", "-o",
                     str(tmp_path / "a.png"), "--save-params", str(saved))
    assert code == 0, out
    data = json.loads(saved.read_text())
    change(data)
    saved.write_text(json.dumps(data))
    code, out = _run("--object", disc_object, "--size", "16", "-o", str(tmp_path / "b.png"),
                     "--params", str(saved))
    assert not (tmp_path / "b.png").exists()
    return code, out, saved


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["pose"].pop("distance_m"), "missing pose.distance_m"),
    (lambda p: p["pose"].__setitem__("distance_m", [-1.0, 3.0]),
     "pose.distance_m must be positive (metres in front of the camera) and at most 100000, "
     "got -1"),
    (lambda p: p["jpeg"].__setitem__("quality", [50.0, 120.0]),
     "jpeg.quality must be between 1 and 100, got 120"),
    (lambda p: p["pose"].__setitem__("yaw_dg", p["pose"].pop("yaw_deg")),
     "unknown pose.yaw_dg, missing pose.yaw_deg"),
    (lambda p: p["jpeg"].__setitem__("quality", ["a", "b"]),
     "jpeg.quality must be a list of numbers"),
    # the engine's geometry has a far limit too (1e17 m used to end in a ZeroDivisionError)
    (lambda p: p["pose"].__setitem__("distance_m", [3.0, 1e20]),
     "pose.distance_m must be positive (metres in front of the camera) and at most 100000, "
     "got 1e+20"),
    (lambda p: p["pose"].__setitem__("distance_m", [3.0, True]),
     "pose.distance_m must be numbers, not true or false"),
    # each of these used to render a black (NaN) or a flat window with exit status 0
    (lambda p: p["background"]["blob_soft"][1].__setitem__(0, 0.0),
     "background.blob_soft must be above 0 and at most 1, got 0"),
    (lambda p: p["background"]["blob_alpha"][0].__setitem__(0, 1e30),
     "background.blob_alpha must be between 0 and 1, got 1e+30"),
    (lambda p: p["background"]["top"][0].__setitem__(0, 50.0),
     "background.top must be between 0 and 1, got 50"),
    (lambda p: p["background"]["seed"].__setitem__(0, 2**40),
     "background.seed must be a seed from 0 to 16777215, got 1099511627776"),
    (lambda p: p["sensor_noise"]["seed"].__setitem__(1, -1),
     "sensor_noise.seed must be a seed from 0 to 16777215, got -1"),
])
def test_replayed_params_that_cannot_be_rendered(tmp_path: Path, disc_object: str,
                                                 change: Callable[[dict], object],
                                                 message: str) -> None:
    code, out, saved = _replay_changed(tmp_path, disc_object, lambda d: change(d["transforms"]))
    assert code == 2 and out.startswith(f"Error: {saved}: {message}") and out.count("\n") == 1


@pytest.mark.parametrize("n", [0, -2, True, 2.0, "2"])
def test_replayed_params_need_a_positive_whole_n(tmp_path: Path, disc_object: str,
                                                 n: object) -> None:
    # 0 used to end in an IndexError, true in a TypeError
    code, out, saved = _replay_changed(tmp_path, disc_object, lambda d: d.__setitem__("n", n))
    assert code == 2 and out == (f"Error: {saved}: n: the number of samples must be a positive "
                                 f"whole number, got {n!r}\n")


@pytest.mark.parametrize(("fix", "message"), [
    # 1e30 used to be saved as the seed -9223372036854775808
    ("background.seed=1e30", "background.seed takes whole numbers (of less than 19 digits)"),
    ("background.seed=20000000", "background.seed must be a seed from 0 to 16777215"),
    ("background.blob_soft=0", "background.blob_soft must be above 0 and at most 1, got 0"),
])
def test_fixed_values_are_checked(tmp_path: Path, fix: str, message: str) -> None:
    code, out = _run("-n", "2", "--size", "16", "--fix", fix, "-o", str(tmp_path / "a.png"),
                     "--save-params", str(tmp_path / "p.json"))
    assert code == 2 and out.startswith(f"Error: --fix: {message}"), out
    assert list(tmp_path.iterdir()) == []


def test_force_never_writes_over_the_scene_a_profile_or_a_photo_it_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("photos").mkdir()
    cv2.imwrite("photos/a.png", np.full((32, 48, 3), 90, np.uint8))
    default = Path(__file__).resolve().parents[2] / "physsim" / "eot" / "profiles"
    Path("prof.json").write_text((default / "default.json").read_text())
    Path("s.yaml").write_text("eot:\n  transforms:\n    - pose: {distance_m: [2, 4]}\n"
                              "    - crop: {}\n    - printer: {profile: prof.json}\n"
                              "    - background: {kind: image, images: [photos]}\n")
    before = {f: Path(f).read_bytes() for f in ("s.yaml", "prof.json", "photos/a.png")}
    base = ["s.yaml", "-n", "2", "--size", "16", "--force"]
    for args, flag in ((["-o", "o.png", "--save-params", "s.yaml"], "--save-params"),
                       (["-o", "o.png", "--save-params", "prof.json"], "--save-params"),
                       (["-o", "photos/a.png"], "--output")):
        code, out = _run(*base, *args)
        # each of these used to be written over, with exit status 0
        assert code == 2 and f"{flag}: this is an input of the command" in out, out
    assert {f: Path(f).read_bytes() for f in before} == before
    assert not Path("o.png").exists()
    assert _run(*base, "-o", "o.png")[0] == 0


def test_the_sheet_and_its_params_are_written_together(tmp_path: Path) -> None:
    # a folder named like the old fixed temporary file used to end in a traceback, with the
    # params file already written; a file of the user's of that name was deleted
    (tmp_path / "out.png.part").mkdir()
    code, out = _run("-n", "2", "--size", "16", "-o", str(tmp_path / "out.png"),
                     "--save-params", str(tmp_path / "p.json"))
    assert code == 0, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out.png.part", "p.json"]
    # a sheet that cannot be written leaves no params file (and an earlier one as it was)
    (tmp_path / "p.json").write_text("earlier")
    code, out = _run("-n", "2", "--size", "16", "-o", "/proc/self/sheet.png", "--save-params",
                     str(tmp_path / "p.json"), "--force")
    assert code == 2 and "Traceback" not in out
    assert (tmp_path / "p.json").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out.png.part", "p.json"]


def test_scene_objects_of_the_wrong_type_are_refused(tmp_path: Path) -> None:
    scene = tmp_path / "s.yaml"
    for text, message in (("object: [a, b]\n", "object: expected an object's name"),
                          ("object: {name: 5}\n", "object: expected an object's name"),
                          ("patch: {objects: [5]}\n", "patch.objects: expected a list of "
                                                       "object names, got [5]"),
                          ("patch: {objects: [nope]}\n", "patch.objects[0]: unknown object "
                                                          "'nope'")):
        # the first three used to show the stop sign; the last named object.name
        scene.write_text(text)
        code, out = _run(str(scene), "-n", "1", "--size", "16", "-o", str(tmp_path / "o.png"))
        assert code == 2 and out.startswith(f"Error: {scene}: {message}"), out


def test_float_and_16_bit_textures(tmp_path: Path) -> None:
    from physsim.eot.preview import read_texture

    # a float TIFF is taken as it is: white stays white (it used to be divided by 255)
    cv2.imwrite(str(tmp_path / "f.tiff"), np.ones((4, 6, 3), np.float32))
    assert torch.equal(read_texture(tmp_path / "f.tiff"), torch.ones(4, 4, 6))
    cv2.imwrite(str(tmp_path / "w.png"), np.full((4, 6, 3), 65535, np.uint16))
    assert torch.equal(read_texture(tmp_path / "w.png"), torch.ones(4, 4, 6))
    cv2.imwrite(str(tmp_path / "big.tiff"), np.full((4, 6, 3), 3.0, np.float32))
    nan = np.ones((4, 6, 3), np.float32)
    nan[1, 2, 0] = np.nan
    cv2.imwrite(str(tmp_path / "nan.tiff"), nan)
    for name, message in (("big.tiff", r"values must be in \[0, 1\], got \[3, 3\]"),
                          ("nan.tiff", r"values must be in \[0, 1\], got NaN")):
        with pytest.raises(UserError, match=f"^{tmp_path / name}: {message}"):
            read_texture(tmp_path / name)


def test_window_size_has_a_limit(tmp_path: Path) -> None:
    code, out = _run("--size", "100000", "-o", str(tmp_path / "o.png"))
    assert code == 2 and "100000 is not in the range 8<=x<=2048" in out
    assert list(tmp_path.iterdir()) == []


def test_bad_eot_section_in_the_scene(tmp_path: Path) -> None:
    scene = tmp_path / "scene.yaml"
    scene.write_text("eot:\n  transforms:\n    - jpeg: {quality: [10, 120]}\n")
    cv2.imwrite(str(tmp_path / "t.png"), np.zeros((8, 8, 3), np.uint8))
    code, out = _run(str(scene), "--texture", str(tmp_path / "t.png"), "--size-mm", "1", "1",
                     "-o", str(tmp_path / "o.png"))
    assert code == 2
    assert out.startswith(f"Error: {scene}: eot.transforms[0].jpeg.quality: must be <= 100")


def test_texture_reader_handles_grey_and_rgb(tmp_path: Path) -> None:
    from physsim.eot.preview import read_texture

    cv2.imwrite(str(tmp_path / "g.png"), np.full((4, 6), 128, np.uint8))
    t = read_texture(tmp_path / "g.png")
    assert t.shape == (4, 4, 6) and torch.allclose(t[3], torch.ones(4, 6))


def test_output_must_be_a_png_and_argument_errors_come_first(tmp_path: Path) -> None:
    code, out = _run("-o", str(tmp_path / "sheet.jpg"))
    assert code == 2 and "the contact sheet is a PNG: give a file name ending in .png" in out
    assert not (tmp_path / "sheet.jpg").exists()
    existing = tmp_path / "sheet.png"
    existing.write_bytes(b"earlier")
    # a bad --fix is the error reported, not the existing file it would not have written
    code, out = _run("-o", str(existing), "--fix", "pose.yaw_deg=abc")
    assert code == 2 and out.startswith("Error: --fix: pose.yaw_deg: expected numbers")
    assert existing.read_bytes() == b"earlier"


def test_a_digital_scene_is_previewed_with_a_given_texture(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "t.png"), np.full((32, 32, 3), 200, np.uint8))
    code, out = _run("printed_photo", "--texture", str(tmp_path / "t.png"), "--size-mm", "150",
                     "150", "-n", "2", "--size", "16", "-o", str(tmp_path / "p.png"))
    assert code == 0, out


def test_a_scene_too_near_the_camera_is_named(tmp_path: Path) -> None:
    scene = tmp_path / "near.yaml"
    scene.write_text("eot:\n  transforms:\n    - pose: {distance_m: [0.1, 3]}\n    - crop: {}\n")
    code, out = _run(str(scene), "-o", str(tmp_path / "o.png"))
    assert code == 2 and out.startswith(f"Error: {scene}: eot.transforms[0].pose.distance_m: "
                                        "at 0.1 m, turned up to 45 degrees"), out
