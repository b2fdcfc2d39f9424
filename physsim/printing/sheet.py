"""The sticker sheets: every sticker at 1:1 with a cut outline, packed onto A4 or Letter.

A placement guide comes first, a page meant for plain paper: a picture of the whole artefact
with the numbered outlines, and where each sticker goes, measured in the sign frame. The
sheets after it hold only stickers, so they can go on sticker paper. A sticker that does not
fit the paper upright is turned 90°; one that fits neither way gets a page of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from fpdf import FPDF
from PIL import Image

from physsim.printing.layout import FOOTER_MM, MARGIN_MM, MIN_PAGE_WIDTH_MM
from physsim.printing.marks import latin1
from physsim.printing.rundata import RunArtefact
from physsim.printing.stickers import BLEED_MM, Sticker, sticker_image

#: cut outlines: a spot-like magenta that reads as "cut here" and not as part of a sticker
CUT_RGB = (236, 0, 140)
CUT_LINE_MM = 0.25
GAP_MM = 6.0
#: room under each sticker for its number and position
LABEL_MM = 4.0
#: the placement guide's picture is at most this wide and high
GUIDE_MM = 120.0
#: sticker positions listed on the guide page (all of them are in the sidecar)
GUIDE_ROWS = 30


@dataclass(frozen=True)
class Slot:
    """Where one sticker goes on a sheet.

    Attributes:
        sticker: the sticker.
        x, y: page position (mm) of the top-left corner of its packed box: the bled image and
            the label line under it.
        rotated: turned 90° counter-clockwise (its top faces left) to fit the paper.
    """

    sticker: Sticker
    x: float
    y: float
    rotated: bool = False


@dataclass(frozen=True)
class SheetPage:
    """One sticker sheet."""

    size_mm: tuple[float, float]
    slots: tuple[Slot, ...]


def bleed_px(run: RunArtefact) -> int:
    """The bleed in artefact pixels: at least :data:`BLEED_MM` on both axes."""
    return math.ceil(BLEED_MM / min(run.mm_per_px))


def _box(run: RunArtefact, st: Sticker) -> tuple[float, float]:
    """Width and height (mm) of a sticker's upright box: bled image plus the label line."""
    mx, my = run.mm_per_px
    b = bleed_px(run)
    return (st.bbox_px[2] + 2 * b) * mx, (st.bbox_px[3] + 2 * b) * my + LABEL_MM


def plan_sheets(run: RunArtefact, stickers: list[Sticker],
                paper_mm: tuple[float, float]) -> list[SheetPage]:
    """Shelf-pack the stickers in number order onto sheets of ``paper_mm``.

    A sticker that does not fit the paper upright is turned 90°; one that fits neither way
    gets a page of its own after the sheets.
    """
    pw, ph = paper_mm
    room_w, room_h = pw - 2 * MARGIN_MM, ph - MARGIN_MM - FOOTER_MM
    sheets: list[list[Slot]] = [[]]
    own: list[SheetPage] = []
    x, y, shelf = MARGIN_MM, MARGIN_MM, 0.0
    for st in stickers:
        uw, uh = _box(run, st)
        rotated = not (uw <= room_w and uh <= room_h)
        bw, bh = (uh, uw) if rotated else (uw, uh)
        if bw > room_w or bh > room_h:
            size = (max(uw + 2 * MARGIN_MM, MIN_PAGE_WIDTH_MM), uh + MARGIN_MM + FOOTER_MM)
            own.append(SheetPage(size, (Slot(st, MARGIN_MM, MARGIN_MM),)))
            continue
        if x + bw > pw - MARGIN_MM:
            x, y, shelf = MARGIN_MM, y + shelf + GAP_MM, 0.0
        if y + bh > ph - FOOTER_MM and sheets[-1]:
            sheets.append([])
            x, y, shelf = MARGIN_MM, MARGIN_MM, 0.0
        sheets[-1].append(Slot(st, x, y, rotated))
        x, shelf = x + bw + GAP_MM, max(shelf, bh)
    return [SheetPage(paper_mm, tuple(slots)) for slots in sheets if slots] + own


def sticker_frame_mm(run: RunArtefact, st: Sticker) -> tuple[float, float, float, float]:
    """The sticker's bounding box (x, y, width, height) in the sign frame, mm."""
    mx, my = run.mm_per_px
    x, y, w, h = st.bbox_px
    return x * mx, y * my, w * mx, h * my


def _outline(pdf: FPDF, points: list[tuple[float, float]], width: float) -> None:
    pdf.set_draw_color(*CUT_RGB)
    pdf.set_line_width(width)
    pdf.polygon(points, style="D")


def sticker_origin(run: RunArtefact, slot: Slot) -> tuple[float, float]:
    """Page position (mm) of the sticker's own top-left corner (its bounding box's)."""
    mx, my = run.mm_per_px
    b = bleed_px(run)
    if not slot.rotated:
        return slot.x + b * mx, slot.y + b * my
    # turned counter-clockwise about the packed box's bottom-left corner: local (dx, dy)
    # lands at (dy, -dx) from it, in page coordinates (y down)
    return slot.x + b * my, slot.y + _box(run, slot.sticker)[0] - b * mx


def _draw_upright(pdf: FPDF, run: RunArtefact, st: Sticker, x: float, y: float) -> None:
    """The sticker upright with its packed box's top-left corner at (x, y)."""
    (mx, my), b = run.mm_per_px, bleed_px(run)
    x0, y0, w, h = st.bbox_px
    pdf.image(sticker_image(run.rgba, st, b), x, y, (w + 2 * b) * mx, (h + 2 * b) * my)
    sx, sy = x + b * mx, y + b * my
    _outline(pdf, [(sx + (px - x0) * mx, sy + (py - y0) * my) for px, py in st.outline_px],
             CUT_LINE_MM)
    fx, fy, _, _ = sticker_frame_mm(run, st)
    base = y + (h + 2 * b) * my + 3.0
    pdf.set_text_color(0)
    pdf.set_font("helvetica", style="B", size=7)
    pdf.text(x, base, f"{st.id}")
    pdf.set_font("helvetica", size=6)
    pdf.text(x + 4.0, base, f"top-left at x {fx:.1f}, y {fy:.1f} mm")


def draw_slot(pdf: FPDF, run: RunArtefact, slot: Slot) -> None:
    """One sticker at 1:1: its bled image, the cut outline, and its number and position."""
    if not slot.rotated:
        _draw_upright(pdf, run, slot.sticker, slot.x, slot.y)
        return
    pivot = (slot.x, slot.y + _box(run, slot.sticker)[0])
    with pdf.rotation(90, *pivot):
        _draw_upright(pdf, run, slot.sticker, *pivot)


def draw_guide(pdf: FPDF, run: RunArtefact, stickers: list[Sticker]) -> None:
    """The placement guide on the current page: the artefact, numbered outlines, a table."""
    w_mm, h_mm = run.size_mm
    k = min(GUIDE_MM, pdf.w - 2 * MARGIN_MM) / max(w_mm, h_mm)
    mx, my = run.mm_per_px
    x0 = (pdf.w - w_mm * k) / 2
    pdf.image(Image.fromarray(run.rgba, "RGBA"), x0, MARGIN_MM + 2.0, w_mm * k, h_mm * k)
    pdf.set_draw_color(160)
    pdf.set_line_width(0.1)
    pdf.rect(x0, MARGIN_MM + 2.0, w_mm * k, h_mm * k)
    pdf.set_font("helvetica", style="B", size=8)
    pdf.set_fill_color(255)
    for st in stickers:
        pts = [(x0 + px * mx * k, MARGIN_MM + 2.0 + py * my * k) for px, py in st.outline_px]
        _outline(pdf, pts, 0.3)
        # the number on a white disc, legible over any sticker pattern
        cx, cy = np.mean(pts, axis=0)
        pdf.ellipse(cx - 2.5, cy - 2.5, 5.0, 5.0, style="DF")
        pdf.set_text_color(*CUT_RGB)
        label = str(st.id)
        pdf.text(cx - pdf.get_string_width(label) / 2, cy + 1.0, label)
    lines = [
        f"Placement guide for {run.scene} (seed {run.seed}): {len(stickers)} stickers. Print "
        "this page on plain paper",
        "and the sheets after it on sticker paper, all at 100 % (actual size).",
        f"Cut along the magenta outlines; the colour runs {BLEED_MM:g} mm past them.",
        "Positions are the top-left corners of the stickers' bounding boxes, measured from "
        "the top-left",
        f"corner of the sign's bounding box (grey box above, 1:{1 / k:.0f}): x right, y down.",
        "",
        *(f"sticker {st.id}: x {fx:.1f} mm, y {fy:.1f} mm; {fw:.1f} x {fh:.1f} mm"
          for st in stickers[:GUIDE_ROWS] for fx, fy, fw, fh in [sticker_frame_mm(run, st)]),
    ]
    if len(stickers) > GUIDE_ROWS:
        lines.append(f"... and {len(stickers) - GUIDE_ROWS} more: see the JSON sidecar")
    pdf.set_text_color(0)
    pdf.set_font("helvetica", size=7.5)
    top = MARGIN_MM + 2.0 + h_mm * k + 8.0
    for i, line in enumerate(lines):
        pdf.text(MARGIN_MM, top + 3.6 * i, latin1(line))
