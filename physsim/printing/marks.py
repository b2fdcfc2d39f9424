"""Vector marks drawn on the PDF pages: ArUco fiducials, cut marks, registration targets and
the scale bar. Every function draws at absolute page positions in mm on an ``FPDF(unit="mm")``.
"""

from __future__ import annotations

import cv2
import numpy as np
from fpdf import FPDF

from physsim.printing.layout import FOOTER_MM, MARGIN_MM, MARKER_CELLS, Tile

#: the ArUco dictionary of the fiducials (ids 0-3 are used)
ARUCO_DICT = "DICT_4X4_50"
SCALE_BAR_MM = 100.0
#: diameter of a registration target (circle and cross) centred on a seam's cut line
TARGET_MM = 5.0
HAIRLINE_MM = 0.15


def marker_cells(marker_id: int) -> np.ndarray:
    """The marker's cells, border included, as a (6, 6) bool array; True is white."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICT))
    return cv2.aruco.generateImageMarker(dictionary, marker_id, MARKER_CELLS) > 127


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges of the True runs of a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def draw_marker(pdf: FPDF, marker_id: int, x: float, y: float, size: float) -> None:
    """An ArUco marker as vector squares: a black square, then the white cells in row runs.

    Vectors rather than an embedded bitmap, so no viewer or printer smooths the cell edges.
    """
    cells = marker_cells(marker_id)
    cell = size / cells.shape[0]
    pdf.set_fill_color(0)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(255)
    for r, row in enumerate(cells):
        for start, stop in _runs(row):
            pdf.rect(x + start * cell, y + r * cell, (stop - start) * cell, cell, style="F")


def draw_scale_bar(pdf: FPDF, x: float, y: float) -> None:
    """A 100 mm bar with mm ticks and its caption; (x, y) is the caption's top-left corner."""
    pdf.set_draw_color(0)
    pdf.set_text_color(0)
    pdf.set_font("helvetica", size=6.5)
    pdf.text(x, y + 2.2, "this bar must measure 100 mm (print at 100 %, not 'fit to page')")
    bar_y = y + 3.5
    pdf.set_line_width(0.2)
    pdf.line(x, bar_y, x + SCALE_BAR_MM, bar_y)
    pdf.set_line_width(0.1)
    for mm in range(int(SCALE_BAR_MM) + 1):
        length = 3.0 if mm % 10 == 0 else 2.0 if mm % 5 == 0 else 1.2
        pdf.line(x + mm, bar_y, x + mm, bar_y + length)
    pdf.set_font("helvetica", size=5)
    for mm in (0, 50, 100):
        pdf.text(x + mm + 0.4, bar_y + 4.6, f"{mm}")


def _target(pdf: FPDF, cx: float, cy: float) -> None:
    r = TARGET_MM / 2
    # ellipse() takes the bounding box's corner in every fpdf2 release (circle() changed)
    pdf.ellipse(cx - r, cy - r, 2 * r, 2 * r, style="D")
    pdf.line(cx - r - 1, cy, cx + r + 1, cy)
    pdf.line(cx, cy - r - 1, cx, cy + r + 1)


def draw_cut_marks(pdf: FPDF, tile: Tile) -> None:
    """Cut lines of ``tile``, marked in the page margins, with targets on the seams.

    Each trim edge is marked by a short line in the two margins it crosses, on the line's
    extension, so a ruler laid across the sheet cuts exactly there. Seams (edges shared with a
    neighbour) also get a registration target centred on the cut line in both margins; the
    neighbour prints the same target at the same poster position, so after cutting, the half
    target left on the cut edge lies over the neighbour's whole one.
    """
    pw, ph = tile.page_mm
    ox, oy = tile.offset
    bottom = ph - FOOTER_MM
    pdf.set_draw_color(0)
    pdf.set_line_width(HAIRLINE_MM)
    left, top, right, low = tile.seams
    for x, seam in ((tile.trim.x0 + ox, left), (tile.trim.x1 + ox, right)):
        pdf.line(x, 1.5, x, MARGIN_MM - 1.0)
        pdf.line(x, bottom + 1.0, x, bottom + 8.0)
        if seam:
            _target(pdf, x, MARGIN_MM / 2)
            _target(pdf, x, bottom + 4.5)
    for y, seam in ((tile.trim.y0 + oy, top), (tile.trim.y1 + oy, low)):
        pdf.line(1.5, y, MARGIN_MM - 1.0, y)
        pdf.line(pw - MARGIN_MM + 1.0, y, pw - 1.5, y)
        if seam:
            _target(pdf, MARGIN_MM / 2, y)
            _target(pdf, pw - MARGIN_MM / 2, y)


def latin1(text: str) -> str:
    """``text`` with what the PDF core fonts cannot show replaced by ``?``."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut short (ending in ``~``) so that it is at most ``width`` mm wide."""
    if pdf.get_string_width(text) <= width:
        return text
    cut = len(text)
    while cut > 0 and pdf.get_string_width(text[:cut] + "~") > width:
        cut -= 1
    return text[:cut] + "~"


def draw_footer(pdf: FPDF, lines: list[str]) -> None:
    """The footer of every page: up to two lines of label on the left, the scale bar right."""
    pw, ph = pdf.w, pdf.h
    y = ph - FOOTER_MM + 10.0
    pdf.set_text_color(0)
    pdf.set_font("helvetica", size=6.5)
    room = pw - 2 * MARGIN_MM - SCALE_BAR_MM - 5.0
    for i, line in enumerate(lines[:2]):
        pdf.text(MARGIN_MM, y + 2.2 + 3.0 * i, _fit(pdf, latin1(line), room))
    draw_scale_bar(pdf, pw - MARGIN_MM - SCALE_BAR_MM, y)
