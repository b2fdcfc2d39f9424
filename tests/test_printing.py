"""``physsim print``: a run's artefact as a PDF at exact physical size, and its sidecar.

The run directory is synthetic: a 512 px octagon "sign" of 750 mm with two rectangular stickers
in its mask. Page sizes are read from the PDF's ``/MediaBox`` entries; where ``pdftoppm`` is
installed, pages are rendered and the ArUco markers and the cut outlines are found in the
pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from physsim.cli import cli
from physsim.errors import UserError
from physsim.hookspecs import hookimpl
from physsim.objects import ObjectTexture, PhysicalObject
from physsim.printing import print_run
from physsim.printing.layout import (
    FOOTER_MM,
    MARGIN_MM,
    OVERLAP_MM,
    PAPERS,
    Rect,
    poster_layout,
    tile_grid,
)
from physsim.printing.stickers import find_stickers

SIGN_MM = 750.0
SIZE_PX = 512
MM_PER_PX = SIGN_MM / SIZE_PX
#: (x, y, width, height) in pixels: one sticker too wide for A4 upright, one small
RECTS = [(100, 120, 160, 50), (300, 330, 60, 40)]
PT_PER_MM = 72 / 25.4
needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                    reason="pdftoppm (poppler-utils) is not installed")


def _octagon_rgba() -> np.ndarray:
    rgba = np.zeros((SIZE_PX, SIZE_PX, 4), np.uint8)
    angles = np.deg2rad(22.5 + 45.0 * np.arange(8))
    radius = SIZE_PX / 2 / np.cos(np.pi / 8)
    pts = np.stack([SIZE_PX / 2 + radius * np.cos(angles), SIZE_PX / 2 + radius * np.sin(angles)],
                   axis=1)
    cv2.fillPoly(rgba, [np.round(pts).astype(np.int32)], (193, 32, 45, 255))
    return rgba


def make_run(path: Path, scene: dict | None = None, dpi: float | None = None,
             rects: list[tuple[int, int, int, int]] = RECTS) -> Path:
    """A run directory like ``physsim run`` writes, with a sticker mask of ``rects``."""
    path.mkdir(parents=True)
    rgba = _octagon_rgba()
    mask = np.zeros((SIZE_PX, SIZE_PX), np.uint8)
    for x, y, w, h in rects:
        mask[y:y + h, x:x + w] = 255
        rgba[y:y + h, x:x + w, :3] = 20  # black stickers
    dpi = dpi or SIZE_PX / (SIGN_MM / 25.4)
    Image.fromarray(rgba, "RGBA").save(path / "artefact.png", dpi=(dpi, dpi))
    Image.fromarray(mask).save(path / "mask.png", dpi=(dpi, dpi))
    scene = {"name": "print_test", "seed": 7, "attack": {"name": "rp2"}} if scene is None else scene
    (path / "scene.yaml").write_text(yaml.safe_dump(scene))
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def page_sizes_mm(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in mm of every page, in order, from the PDF's page tree."""
    objs = {int(m.group(1)): m.group(2)
            for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", pdf, re.DOTALL)}
    box = re.compile(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]")
    root = next(body for body in objs.values() if re.search(rb"/Type /Pages\b", body))
    default = box.search(root)
    kids = re.search(rb"/Kids\s*\[([^\]]*)\]", root)
    assert kids is not None
    sizes = []
    for num in re.findall(rb"(\d+) 0 R", kids.group(1)):
        found = box.search(objs[int(num)]) or default
        assert found is not None
        sizes.append((float(found.group(1)) / PT_PER_MM, float(found.group(2)) / PT_PER_MM))
    return sizes


def render(pdf: Path, page: int, dpi: int, tmp_path: Path) -> np.ndarray:
    """One page as an RGB array, rendered by pdftoppm."""
    stem = tmp_path / f"page{page}"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png",
                    "-singlefile", str(pdf), str(stem)], check=True, timeout=60)
    return np.asarray(Image.open(f"{stem}.png").convert("RGB"))


def expected_poster_mm(sign_mm: float, marker_mm: float = 60.0) -> float:
    """Sign + gap + marker + quiet zone on both sides; gap and quiet zone are one cell."""
    cell = max(marker_mm / 6, 5.0)
    return sign_mm + 2 * (cell + marker_mm + cell)


def test_full_page_is_the_poster_plus_margins(run_dir: Path) -> None:
    res = print_run(run_dir, paper="full")
    data = res.pdf.read_bytes()
    assert res.pdf == run_dir / "print.pdf" and data.startswith(b"%PDF")
    sizes = page_sizes_mm(data)
    # without a registered object the size comes from the PNG's DPI (whole pixels per metre)
    assert res.info["sign"]["size_source"] == "png_dpi"
    sign_w, sign_h = res.info["sign"]["size_mm"]
    assert sign_w == sign_h == pytest.approx(SIGN_MM, rel=1e-3)
    poster = expected_poster_mm(sign_w)
    assert sizes[0] == pytest.approx((poster + 2 * MARGIN_MM, poster + MARGIN_MM + FOOTER_MM),
                                     abs=0.01)
    # the sticker guide and sheets follow the sign, on A4
    assert len(sizes) == res.pages == len(res.info["pages"])
    assert all(s == pytest.approx(PAPERS["a4"], abs=0.01) for s in sizes[1:])


def test_a4_tiling_page_count_and_seams(run_dir: Path) -> None:
    res = print_run(run_dir, paper="a4")
    sizes = page_sizes_mm(res.pdf.read_bytes())
    tiles = [p for p in res.info["pages"] if p["kind"] == "tile"]
    poster = expected_poster_mm(res.info["sign"]["size_mm"][0])
    # printable area of an A4 sheet, either way round; consecutive sheets share OVERLAP_MM
    w, h = PAPERS["a4"]

    def count(pw: float, ph: float) -> int:
        return (math.ceil((poster - OVERLAP_MM) / (pw - 2 * MARGIN_MM - OVERLAP_MM))
                * math.ceil((poster - OVERLAP_MM) / (ph - MARGIN_MM - FOOTER_MM - OVERLAP_MM)))

    assert len(tiles) == min(count(w, h), count(h, w)) == 20
    for page in tiles:
        assert sorted(sizes[page["page"] - 1]) == pytest.approx(sorted(PAPERS["a4"]), abs=0.01)
    assert {p["kind"] for p in res.info["pages"]} == {"tile", "sticker_guide", "stickers"}
    assert res.info["tiles"]["rows"] * res.info["tiles"]["cols"] == 20


def test_tiles_partition_the_poster_with_overlap() -> None:
    poster = poster_layout((SIGN_MM, SIGN_MM), 60.0)
    grid = tile_grid(poster.content, "letter")
    first, last = grid.tiles[0], grid.tiles[-1]
    assert (first.trim.x0, first.trim.y0) == (poster.content.x0, poster.content.y0)
    assert (last.trim.x1, last.trim.y1) == pytest.approx((poster.content.x1, poster.content.y1))
    for t in grid.tiles:
        # what is kept after cutting was printed, with margin to the printable edge
        assert t.visible.x0 <= t.trim.x0 and t.trim.x1 <= t.visible.x1 + 1e-9
        if t.col + 1 < grid.cols:
            right = grid.tiles[t.row * grid.cols + t.col + 1]
            assert right.trim.x0 == pytest.approx(t.trim.x1)  # no gap, no double
            assert t.visible.x1 - right.visible.x0 == pytest.approx(OVERLAP_MM)
            assert t.seams[2] and right.seams[0]


def test_sidecar_hash_frame_and_markers_outside_the_face(run_dir: Path) -> None:
    res = print_run(run_dir, paper="a4")
    info = json.loads(res.sidecar.read_text())
    assert res.sidecar == run_dir / "print.json" and info == res.info
    artefact = (run_dir / "artefact.png").read_bytes()
    assert info["artefact"]["sha256"] == hashlib.sha256(artefact).hexdigest()
    assert (info["scene"], info["seed"], info["paper"], info["pdf"]) == (
        "print_test", 7, "a4", "print.pdf")
    assert info["sign"]["size_mm"] == pytest.approx([SIGN_MM, SIGN_MM], rel=2e-3)
    markers = info["markers"]["items"]
    assert [m["id"] for m in markers] == [0, 1, 2, 3]
    face = Rect(0.0, 0.0, SIGN_MM, SIGN_MM)
    for m in markers:
        xs, ys = zip(*m["corners_mm"])
        square = Rect(min(xs), min(ys), max(xs), max(ys))
        assert square.width == pytest.approx(60.0) and not square.intersects(face)
        assert square.centre == pytest.approx(tuple(m["centre_mm"]))


@needs_pdftoppm
def test_markers_are_detected_at_their_sidecar_positions(run_dir: Path, tmp_path: Path) -> None:
    res = print_run(run_dir, tmp_path / "out" / "sign.pdf", paper="full")
    dpi = 20
    img = cv2.cvtColor(render(res.pdf, 1, dpi, tmp_path), cv2.COLOR_RGB2GRAY)
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(img)
    assert ids is not None and sorted(ids.ravel().tolist()) == [0, 1, 2, 3]
    offset = np.array(res.info["pages"][0]["sign_to_page_mm"])
    expected = {m["id"]: np.array(m["centre_mm"]) for m in res.info["markers"]["items"]}
    px_mm = 25.4 / dpi
    for c, i in zip(corners, ids.ravel()):
        centre_mm = (c[0].mean(axis=0) + 0.5) * px_mm - offset  # pixel centres at +0.5
        assert np.abs(centre_mm - expected[int(i)]).max() < 1.5 * px_mm


@needs_pdftoppm
def test_first_a4_tile_shows_marker_0_where_the_sidecar_says(run_dir: Path,
                                                              tmp_path: Path) -> None:
    res = print_run(run_dir, paper="a4")
    dpi = 50
    img = cv2.cvtColor(render(res.pdf, 1, dpi, tmp_path), cv2.COLOR_RGB2GRAY)
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(img)
    assert ids is not None and ids.ravel().tolist() == [0]
    page = res.info["pages"][0]
    want = np.array(res.info["markers"]["items"][0]["centre_mm"]) + page["sign_to_page_mm"]
    got = (corners[0][0].mean(axis=0) + 0.5) * 25.4 / dpi
    assert np.abs(got - want).max() < 1.0


def test_find_stickers_traces_each_region_at_its_pixel_edges() -> None:
    mask = np.zeros((SIZE_PX, SIZE_PX), bool)
    for x, y, w, h in RECTS:
        mask[y:y + h, x:x + w] = True
    mask[5, 5] = True  # a speck, not a sticker
    stickers = find_stickers(mask, MM_PER_PX)
    assert [s.id for s in stickers] == [1, 2]
    for st, (x, y, w, h) in zip(stickers, RECTS):
        assert st.bbox_px == (x, y, w, h) and st.area_px == w * h
        lo, hi = st.outline_px.min(axis=0), st.outline_px.max(axis=0)
        assert lo == pytest.approx([x, y], abs=0.1) and hi == pytest.approx([x + w, y + h],
                                                                              abs=0.1)


@needs_pdftoppm
def test_sticker_sheets_have_one_cut_outline_per_sticker(run_dir: Path,
                                                         tmp_path: Path) -> None:
    res = print_run(run_dir, paper="a4")
    stickers = res.info["stickers"]
    assert [s["id"] for s in stickers] == [1, 2]
    assert [s["rotated_deg"] for s in stickers] == [90, 0]  # 234 mm does not fit A4 upright
    dpi = 100
    found = []
    for page in (p for p in res.info["pages"] if p["kind"] == "stickers"):
        rgb = render(res.pdf, page["page"], dpi, tmp_path).astype(int)
        magenta = ((rgb[..., 0] - rgb[..., 1] > 60) & (rgb[..., 2] - rgb[..., 1] > 30))
        contours, _ = cv2.findContours(magenta.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        big = [c for c in contours if cv2.contourArea(c) > 100]
        assert len(big) == len(page["stickers"])
        found += [sorted(cv2.boundingRect(c)[2:]) for c in big]
    want = [sorted((w * MM_PER_PX, h * MM_PER_PX)) for _, _, w, h in RECTS]
    got = sorted(np.array(found) * 25.4 / dpi, key=lambda s: s[1])
    assert np.array(got) == pytest.approx(np.array(sorted(want, key=lambda s: s[1])), abs=1.0)


def test_no_sticker_sheet_when_the_mask_covers_the_face(tmp_path: Path) -> None:
    run = make_run(tmp_path / "poster", rects=[(0, 0, SIZE_PX, SIZE_PX)])
    with pytest.warns(UserWarning, match="without a sticker sheet"):
        res = print_run(run, paper="full")
    assert res.pages == 1 and res.info["stickers"] == []
    assert res.info["sticker_mask_fraction"] == pytest.approx(1.0)


def test_existing_pdf_is_not_overwritten(run_dir: Path) -> None:
    first = print_run(run_dir, paper="full").pdf.read_bytes()
    with pytest.raises(UserError, match="--force"):
        print_run(run_dir, paper="a4")
    assert (run_dir / "print.pdf").read_bytes() == first
    result = CliRunner().invoke(cli, ["print", str(run_dir)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert (run_dir / "print.pdf").read_bytes() == first
    assert json.loads((run_dir / "print.json").read_text())["paper"] == "full"
    assert print_run(run_dir, paper="a4", force=True).pages > 1


def test_failed_write_leaves_no_pdf(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fpdf import FPDF

    def broken(self: FPDF, name: str) -> None:
        Path(name).write_bytes(b"%PDF-half")
        raise OSError("disk full")

    monkeypatch.setattr(FPDF, "output", broken)
    with pytest.raises(UserError, match="disk full") as err:
        print_run(run_dir, paper="full")
    assert err.value.where == str(run_dir / "print.pdf")
    assert sorted(p.name for p in run_dir.iterdir()) == ["artefact.png", "mask.png",
                                                        "scene.yaml"]


def test_cli_writes_pdf_and_sidecar(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "prints" / "stop.pdf"
    result = CliRunner().invoke(cli, ["print", str(run_dir), "-o", str(out), "--paper",
                                      "letter"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF") and out.with_suffix(".json").is_file()
    sizes = page_sizes_mm(out.read_bytes())
    assert all(sorted(s) == pytest.approx(sorted(PAPERS["letter"]), abs=0.01) for s in sizes)


@pytest.mark.parametrize("make", ["missing_dir", "no_artefact"])
def test_missing_input_is_one_line_exit_2(tmp_path: Path, make: str) -> None:
    run = tmp_path / "run"
    if make == "no_artefact":
        run.mkdir()
    result = CliRunner().invoke(cli, ["print", str(run)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(run) in lines[0]
    assert "artefact.png" in lines[0] or make == "missing_dir"


def test_bad_options_name_the_field(run_dir: Path) -> None:
    with pytest.raises(UserError, match="marker_mm"):
        print_run(run_dir, marker_mm=5.0)
    with pytest.raises(UserError, match="paper"):
        print_run(run_dir, paper="a3")
    with pytest.raises(UserError, match=r"\.pdf"):
        print_run(run_dir, run_dir / "print.png")


def cli_error(args: list[str]) -> str:
    """Run ``physsim ARGS``, which must fail with one line and exit 2; return that line."""
    result = CliRunner().invoke(cli, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("name", ["metrics", "manifest", "object", "scene"])
@pytest.mark.parametrize("force", [False, True])
def test_a_run_file_on_the_sidecar_path_is_never_overwritten(run_dir: Path, name: str,
                                                             force: bool) -> None:
    for other in ("metrics", "manifest"):
        (run_dir / f"{other}.json").write_text('{"kept": true}\n')
    (run_dir / "object.json").write_text(json.dumps({"size_mm": [SIGN_MM, SIGN_MM]}))
    (run_dir / "scene.json").write_text("{}\n")  # scene.yaml's neighbour, as another tool might
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    line = cli_error(["print", str(run_dir), "-o", str(run_dir / f"{name}.pdf"),
                      *(["--force"] if force else [])])
    assert line.startswith(f"Error: {run_dir / name}.json: ") and "never overwritten" in line
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_an_existing_sidecar_needs_force_and_must_be_a_print_sidecar(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.json").write_text("my notes\n")
    for force in ([], ["--force"]):
        line = cli_error(["print", str(run_dir), "-o", "notes.pdf", *force])
        assert line.startswith("Error: notes.json: ")
    assert Path("notes.json").read_text() == "my notes\n" and not Path("notes.pdf").exists()
    # an earlier print's sidecar whose PDF is gone: refused without --force, replaced with it
    first = print_run(run_dir, "stop.pdf", paper="full")
    first.pdf.unlink()
    assert "pass --force" in cli_error(["print", str(run_dir), "-o", "stop.pdf"])
    assert json.loads(Path("stop.json").read_text())["paper"] == "full"
    assert print_run(run_dir, "stop.pdf", paper="a4", force=True).info["paper"] == "a4"


def test_a_pdf_without_its_print_sidecar_is_never_overwritten(run_dir: Path) -> None:
    report = run_dir / "report.pdf"
    report.write_bytes(b"%PDF-1.7 someone else's report")
    for force in ([], ["--force"]):
        line = cli_error(["print", str(run_dir), "-o", str(report), *force])
        assert line.startswith(f"Error: {report}: ") and "never overwritten" in line
    assert report.read_bytes() == b"%PDF-1.7 someone else's report"
    assert not (run_dir / "report.json").exists()


@pytest.mark.parametrize("size", ["[0, 0]", "[NaN, 750]", "[Infinity, 750]", "[-750, -750]",
                                  "[750000, 750000]", "[1e400, 750]", "[750, 1" + "0" * 400 + "]",
                                  "[true, 750]", "[750]", '"750 x 750"', "null"])
def test_a_bad_recorded_size_is_one_line_naming_object_json(run_dir: Path, size: str) -> None:
    path = run_dir / "object.json"
    path.write_text(f'{{"name": "stop_sign", "size_mm": {size}}}')
    line = cli_error(["print", str(run_dir)])
    assert line.startswith(f"Error: {path}: size_mm ")
    assert not (run_dir / "print.pdf").exists() and not (run_dir / "print.json").exists()


def test_the_recorded_size_is_used_up_to_the_limit(run_dir: Path) -> None:
    (run_dir / "object.json").write_text(json.dumps({"size_mm": [600, 600.0]}))
    res = print_run(run_dir, paper="full")
    assert res.info["sign"]["size_source"] == "run"
    assert res.info["sign"]["size_mm"] == [600.0, 600.0]
    (run_dir / "object.json").write_text(json.dumps({"size_mm": [10_000, 10_000]}))
    res = print_run(run_dir, paper="full", force=True)
    assert res.info["sign"]["size_mm"] == [10_000.0, 10_000.0]


def test_a_dpi_beyond_the_size_limit_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", dpi=1.2)  # 512 px at 1.2 dpi: about 10.8 m
    with pytest.raises(UserError, match="10000 mm") as err:
        print_run(run, paper="full")
    assert err.value.where == str(run / "artefact.png")


@pytest.mark.parametrize("case", ["pdf_is_dir", "json_is_dir", "parent_is_file", "sys"])
def test_an_unwritable_output_fails_before_rendering(run_dir: Path, tmp_path: Path, case: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from physsim.printing import document

    if case == "sys" and not Path("/sys").is_dir():
        pytest.skip("no /sys here")

    def no_render(*args: object) -> None:
        raise AssertionError("rendered although the output cannot be written")

    monkeypatch.setattr(document, "build_pdf", no_render)
    (tmp_path / "a_file").write_text("x")
    pdf = {"pdf_is_dir": run_dir / "print.pdf", "json_is_dir": run_dir / "print.pdf",
           "parent_is_file": tmp_path / "a_file" / "sub" / "out.pdf",
           "sys": Path("/sys/physsim-print-test.pdf")}[case]
    blocked = {"pdf_is_dir": pdf, "json_is_dir": pdf.with_suffix(".json")}.get(case)
    if blocked is not None:
        blocked.mkdir()
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(UserError) as err:
        print_run(run_dir, pdf, force=True)
    assert err.value.where == str(blocked or pdf)
    line = cli_error(["print", str(run_dir), "-o", str(pdf), "--force"])
    assert line.startswith(f"Error: {blocked or pdf}: ")
    assert sorted(p.name for p in run_dir.iterdir()) == before  # no .partial left
    assert not pdf.with_name(pdf.name + ".partial").exists()


class _PrintTestSign(PhysicalObject):
    name = "print_test_sign"
    label = "stop"
    size_mm = (SIGN_MM, SIGN_MM)

    def load(self) -> ObjectTexture:
        raise NotImplementedError("print reads size_mm only; it never loads the object")


@pytest.fixture
def test_sign_plugin() -> Iterator[None]:
    """A throwaway plugin registering :class:`_PrintTestSign`, unregistered afterwards."""
    from physsim.plugins import load_plugins, pm

    load_plugins()

    @hookimpl
    def register_objects(register: Callable[[type], None]) -> None:
        register(_PrintTestSign)

    pm.register(SimpleNamespace(register_objects=register_objects), name="print_test_plugin")
    yield
    pm.unregister(name="print_test_plugin")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_size_comes_from_the_registered_object(tmp_path: Path, test_sign_plugin: None) -> None:
    scene = {"name": "s", "seed": 1, "object": {"name": "print_test_sign"}}
    run = make_run(tmp_path / "run", scene=scene, dpi=72.0)  # a wrong DPI must not matter
    res = print_run(run, paper="full")
    assert res.info["sign"]["size_source"] == "object"
    assert res.info["sign"]["size_mm"] == [SIGN_MM, SIGN_MM]
    poster = expected_poster_mm(SIGN_MM)
    assert page_sizes_mm(res.pdf.read_bytes())[0][0] == pytest.approx(poster + 2 * MARGIN_MM)


def test_unknown_object_falls_back_to_the_png_dpi(tmp_path: Path) -> None:
    scene = {"name": "s", "seed": 1, "object": {"name": "no_such_object_xyz"}}
    run = make_run(tmp_path / "run", scene=scene)
    with pytest.warns(UserWarning, match="no_such_object_xyz"):
        res = print_run(run, paper="full")
    assert res.info["sign"]["size_source"] == "png_dpi"
    # the PNG stores whole pixels per metre: exact to about 0.1 %
    assert res.info["sign"]["size_mm"] == pytest.approx([SIGN_MM, SIGN_MM], rel=1e-3)


def test_the_command_line_shows_a_warning_as_one_line(tmp_path: Path) -> None:
    # a run directory holding only its artefact prints, with a warning; Python's own format
    # added physsim's file, line and a line of its source
    run = tmp_path / "bare"
    run.mkdir()
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(run / "artefact.png", dpi=(100, 100))
    out = subprocess.run([sys.executable, "-m", "physsim", "print", str(run), "-o",
                          str(tmp_path / "x.pdf")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == [f"Warning: {run}/scene.yaml is missing: scene name, seed "
                                       "and object unknown"]
