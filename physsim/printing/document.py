"""``print_run``: a run's artefact as a PDF at exact physical size, with its JSON sidecar.

The PDF holds the *poster* (the sign, four ArUco fiducials outside it, a quiet zone) on one
page (``paper="full"``) or tiled onto A4/Letter sheets with overlap, cut marks, registration
targets and a "row r col c" label; then, for sticker attacks, the sticker sheets. Every page
has a 100 mm scale bar. The sidecar ``<name>.json`` records what was printed and where, in the
sign frame (origin at the artefact's top-left corner, x right, y down, mm), for the later
camera evaluation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fpdf import FPDF
from PIL import Image
from pydantic import Field

from physsim import __version__
from physsim.options import Options, parse_options
from physsim.printing.layout import (
    MARGIN_MM,
    OVERLAP_MM,
    PAPERS,
    Poster,
    Tile,
    TileGrid,
    poster_layout,
    tile_grid,
)
from physsim.printing.marks import (
    ARUCO_DICT,
    SCALE_BAR_MM,
    draw_cut_marks,
    draw_footer,
    draw_marker,
    latin1,
)
from physsim.printing.output import check_outputs, output_paths, probe, write_outputs
from physsim.printing.rundata import RunArtefact, artefact_path, load_run
from physsim.printing.sheet import (
    SheetPage,
    draw_guide,
    draw_slot,
    plan_sheets,
    sticker_frame_mm,
    sticker_origin,
)
from physsim.printing.stickers import STICKER_MAX_FRACTION, Sticker, find_stickers, sticker_fraction


class PrintOptions(Options):
    """How to print a run.

    Attributes:
        paper: ``a4`` or ``letter`` (tiled sheets) or ``full`` (one page of the poster's size).
        marker_mm: side of each ArUco fiducial, in mm.
    """

    paper: Literal["a4", "letter", "full"] = "a4"
    marker_mm: float = Field(60.0, ge=10.0, le=300.0)


@dataclass(frozen=True)
class PrintResult:
    """What :func:`print_run` wrote: the PDF, its sidecar, and the sidecar's content."""

    pdf: Path
    sidecar: Path
    pages: int
    info: dict[str, Any]


def _draw_tile(pdf: FPDF, tile: Tile, poster: Poster, sign: Image.Image) -> None:
    ox, oy = tile.offset
    v = tile.visible
    with pdf.rect_clip(MARGIN_MM, MARGIN_MM, v.width, v.height):
        pdf.image(sign, ox, oy, poster.sign.width, poster.sign.height)
        for m in poster.markers:
            draw_marker(pdf, m.id, m.rect.x0 + ox, m.rect.y0 + oy, m.rect.width)
    draw_cut_marks(pdf, tile)


def _title(pdf: FPDF, text: str) -> None:
    pdf.set_text_color(0)
    pdf.set_font("helvetica", style="B", size=8)
    text = latin1(text)
    pdf.text((pdf.w - pdf.get_string_width(text)) / 2, MARGIN_MM - 3.2, text)


def _footer_lines(run: RunArtefact, marker_mm: float) -> list[str]:
    w, h = run.size_mm
    return [f"physsim {__version__} - scene {run.scene} - seed {run.seed} - "
            f"{run.object_name or 'artefact'} {w:g} x {h:g} mm",
            f"artefact.png sha256 {run.sha256[:16]}... - ArUco {ARUCO_DICT} ids 0-3, "
            f"{marker_mm:g} mm"]


def _tile_pages(pdf: FPDF, run: RunArtefact, poster: Poster, grid: TileGrid, total: int,
                footer: list[str]) -> list[dict[str, Any]]:
    sign = Image.fromarray(run.rgba, "RGBA")  # one object: fpdf2 embeds it once for all tiles
    single = len(grid.tiles) == 1
    pages = []
    for tile in grid.tiles:
        pdf.add_page(format=tile.page_mm)
        _draw_tile(pdf, tile, poster, sign)
        where = ("the sign at actual size" if single else
                 f"row {tile.row + 1} col {tile.col + 1} of {grid.rows} x {grid.cols}")
        _title(pdf, f"{run.scene}: {where} - sheet {pdf.page_no()} of {total}")
        draw_footer(pdf, footer)
        pages.append({"page": pdf.page_no(), "kind": "sign" if single else "tile",
                      "size_mm": [round(v, 3) for v in tile.page_mm],
                      "row": tile.row + 1, "col": tile.col + 1,
                      "sign_to_page_mm": [round(v, 3) for v in tile.offset],
                      "visible_mm": tile.visible.as_list(), "trim_mm": tile.trim.as_list()})
    return pages


def _sticker_pages(pdf: FPDF, run: RunArtefact, stickers: list[Sticker],
                   sheets: list[SheetPage], paper_mm: tuple[float, float], total: int,
                   footer: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The placement guide, then the sticker sheets; their page and sticker records."""
    pdf.add_page(format=paper_mm)
    draw_guide(pdf, run, stickers)
    _title(pdf, f"{run.scene}: sticker placement guide - sheet {pdf.page_no()} of {total}")
    draw_footer(pdf, footer)
    pages: list[dict[str, Any]] = [{"page": pdf.page_no(), "kind": "sticker_guide",
                                    "size_mm": [round(v, 3) for v in paper_mm]}]
    records = []
    for sheet in sheets:
        pdf.add_page(format=sheet.size_mm)
        for slot in sheet.slots:
            draw_slot(pdf, run, slot)
            x, y, w, h = sticker_frame_mm(run, slot.sticker)
            records.append({
                "id": slot.sticker.id, "bbox_mm": [round(v, 3) for v in (x, y, w, h)],
                "area_mm2": round(slot.sticker.area_px * run.mm_per_px[0] * run.mm_per_px[1], 1),
                "page": pdf.page_no(), "rotated_deg": 90 if slot.rotated else 0,
                "page_xy_mm": [round(v, 3) for v in sticker_origin(run, slot)],
                "outline_points": len(slot.sticker.outline_px)})
        _title(pdf, f"{run.scene}: stickers at actual size - sheet {pdf.page_no()} of {total}")
        draw_footer(pdf, footer)
        pages.append({"page": pdf.page_no(), "kind": "stickers",
                      "size_mm": [round(v, 3) for v in sheet.size_mm],
                      "stickers": [slot.sticker.id for slot in sheet.slots]})
    return pages, sorted(records, key=lambda r: r["id"])


def _marker_info(poster: Poster) -> list[dict[str, Any]]:
    out = []
    for m in poster.markers:
        r = m.rect
        corners = [(r.x0, r.y0), (r.x1, r.y0), (r.x1, r.y1), (r.x0, r.y1)]  # ArUco's order
        out.append({"id": m.id, "size_mm": round(r.width, 3),
                    "centre_mm": [round(v, 3) for v in r.centre],
                    "corners_mm": [[round(x, 3), round(y, 3)] for x, y in corners]})
    return out


def _stickers_of(run: RunArtefact) -> tuple[list[Sticker], float]:
    """The run's stickers (none unless the mask is a small part of the face) and that part."""
    fraction = sticker_fraction(run.mask, run.rgba[..., 3])
    if 0.0 < fraction <= STICKER_MAX_FRACTION:
        return find_stickers(run.mask & (run.rgba[..., 3] > 0), min(run.mm_per_px)), fraction
    if fraction > STICKER_MAX_FRACTION and run.attack_name == "rp2":
        # RP2 makes stickers, but a mask this large is the allowed region, not the stickers
        warnings.warn(f"{run.run_dir / 'mask.png'} covers {fraction:.0%} of the face: printed "
                      "as a poster, without a sticker sheet", stacklevel=3)
    return [], fraction


def _sidecar(run: RunArtefact, opts: PrintOptions, poster: Poster, grid: TileGrid,
             fraction: float) -> dict[str, Any]:
    """The sidecar's content, less the page and sticker records."""
    return {
        "physsim": __version__,
        "run_dir": str(run.run_dir),
        "artefact": {"file": "artefact.png", "sha256": run.sha256,
                     "size_px": [int(run.rgba.shape[1]), int(run.rgba.shape[0])]},
        "scene": run.scene, "seed": run.seed, "object": run.object_name,
        "attack": run.attack_name, "paper": opts.paper, "units": "mm",
        "frame": "sign frame: origin at the artefact's top-left corner, x right, y down, mm",
        "sign": {"size_mm": [round(v, 3) for v in run.size_mm], "size_source": run.size_source,
                 "poster_mm": poster.content.as_list()},
        "markers": {"dictionary": ARUCO_DICT, "size_mm": opts.marker_mm,
                    "items": _marker_info(poster)},
        "scale_bar_mm": SCALE_BAR_MM,
        "tiles": {"rows": grid.rows, "cols": grid.cols,
                  "overlap_mm": OVERLAP_MM if len(grid.tiles) > 1 else 0.0},
        "sticker_mask_fraction": round(fraction, 5),
    }


def build_pdf(run: RunArtefact, opts: PrintOptions) -> tuple[FPDF, dict[str, Any]]:
    """Lay out and draw every page; return the document and the sidecar's content."""
    poster = poster_layout(run.size_mm, opts.marker_mm)
    grid = tile_grid(poster.content, opts.paper)
    stickers, fraction = _stickers_of(run)
    sheet_paper = PAPERS["a4" if opts.paper == "full" else opts.paper]
    sheets = plan_sheets(run, stickers, sheet_paper)
    total = len(grid.tiles) + (len(sheets) + 1 if stickers else 0)
    pdf = FPDF(unit="mm", format=grid.tiles[0].page_mm)
    pdf.set_auto_page_break(False)
    pdf.set_title(f"physsim print: {run.scene}")
    pdf.set_creator(f"physsim {__version__}")
    footer = _footer_lines(run, opts.marker_mm)
    pages = _tile_pages(pdf, run, poster, grid, total, footer)
    sheet_pages, records = (
        _sticker_pages(pdf, run, stickers, sheets, sheet_paper, total, footer)
        if stickers else ([], []))
    info = _sidecar(run, opts, poster, grid, fraction)
    info.update(stickers=records, pages=pages + sheet_pages)
    return pdf, info


def print_run(run_dir: Path | str, output: Path | str | None = None, *,
              paper: str = "a4", marker_mm: float = 60.0, force: bool = False) -> PrintResult:
    """Write the printable PDF of a run directory and its JSON sidecar.

    Args:
        run_dir: a run directory written by ``physsim run`` (needs ``artefact.png``).
        output: the PDF to write; default ``run_dir/print.pdf``. The sidecar is the same path
            with ``.json``.
        paper: ``a4``, ``letter`` (tiled) or ``full`` (one page at the poster's size).
        marker_mm: side of each of the four ArUco fiducials.
        force: replace an earlier print (a PDF and its print sidecar). Any other existing
            file on the PDF's or the sidecar's path is never replaced, ``force`` or not; see
            :mod:`physsim.printing.output`.

    Raises:
        UserError: bad options; a missing or unreadable run directory or artefact; a bad size
            (``object.json``, the object or the DPI: not two sizes in (0, 10000] mm); an
            output path that exists and is not an earlier print, or is one and ``force`` is
            not given; an output that cannot be written.
    """
    opts = parse_options(PrintOptions, {"paper": paper, "marker_mm": marker_mm},
                         "print options")
    run_dir = Path(run_dir)
    artefact_path(run_dir)
    out = output_paths(run_dir, None if output is None else Path(output))
    check_outputs(out, force)
    run = load_run(run_dir)
    probe(out)  # after the input checks (it may create the folder), before the rendering work
    pdf, info = build_pdf(run, opts)
    info["pdf"] = out.pdf.name
    write_outputs(out, pdf, info)
    return PrintResult(out.pdf, out.sidecar, len(info["pages"]), info)
