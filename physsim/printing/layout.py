"""Page geometry of ``physsim print``: the fiducials around the sign and the sheets it spans.

Plain arithmetic in millimetres, in the *sign frame*: origin at the artefact's top-left corner,
x to the right, y down (the frame the JSON sidecar reports positions in). The *poster* is the
sign plus four ArUco markers outside its bounding box plus a white quiet zone; it is printed on
one page (``full``) or tiled onto sheets that overlap so they can be glued together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: (width, height) in mm, portrait
PAPERS: dict[str, tuple[float, float]] = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
#: left, right and top margin of every page; most printers cannot print the outer 3-5 mm
MARGIN_MM = 10.0
#: bottom margin: cut marks, then the sheet's label and the 100 mm scale bar
FOOTER_MM = 24.0
#: poster content that neighbouring tiles both print, so they can be overlapped and glued
OVERLAP_MM = 10.0
#: narrowest page that still holds the footer (label + scale bar)
MIN_PAGE_WIDTH_MM = 210.0
#: an ArUco 4x4 marker is 6 cells wide: 4 data cells and a black border
MARKER_CELLS = 6


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle ``[x0, x1] × [y0, y1]`` in mm."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def intersects(self, other: Rect) -> bool:
        """True if the two rectangles share interior points."""
        return (self.x0 < other.x1 and other.x0 < self.x1
                and self.y0 < other.y1 and other.y0 < self.y1)

    def as_list(self) -> list[float]:
        return [round(v, 3) for v in (self.x0, self.y0, self.x1, self.y1)]


@dataclass(frozen=True)
class Marker:
    """One ArUco fiducial: its id and its square in the sign frame."""

    id: int
    rect: Rect


@dataclass(frozen=True)
class Poster:
    """The sign, its fiducials and the quiet zone around them, in the sign frame."""

    sign: Rect
    markers: tuple[Marker, ...]
    content: Rect


def poster_layout(size_mm: tuple[float, float], marker_mm: float) -> Poster:
    """Four markers (ids 0-3 clockwise from top-left) diagonally outside the sign's corners.

    The gap to the sign and the quiet zone outside are one marker cell (at least 5 mm): ArUco
    detection needs a white border of about one cell around each marker.
    """
    w, h = size_mm
    s = marker_mm
    pad = max(marker_mm / MARKER_CELLS, 5.0)
    near, far = pad, pad + s
    corners = [(-far, -far), (w + near, -far), (w + near, h + near), (-far, h + near)]
    markers = tuple(Marker(i, Rect(x, y, x + s, y + s)) for i, (x, y) in enumerate(corners))
    edge = far + pad
    return Poster(Rect(0.0, 0.0, w, h), markers, Rect(-edge, -edge, w + edge, h + edge))


@dataclass(frozen=True)
class Tile:
    """One sheet of the poster.

    Attributes:
        row, col: 0-based position in the grid.
        page_mm: (width, height) of the sheet.
        visible: the part of the sign frame printed in the sheet's printable area.
        trim: where to cut: at the seams (the middle of an overlap) and the poster's edges.
        seams: which trim edges are seams with a neighbour: (left, top, right, bottom).
    """

    row: int
    col: int
    page_mm: tuple[float, float]
    visible: Rect
    trim: Rect
    seams: tuple[bool, bool, bool, bool]

    @property
    def offset(self) -> tuple[float, float]:
        """Add to a sign-frame point to get its position on the page."""
        return MARGIN_MM - self.visible.x0, MARGIN_MM - self.visible.y0


@dataclass(frozen=True)
class TileGrid:
    """The sheets of a poster, row by row."""

    rows: int
    cols: int
    tiles: tuple[Tile, ...]


def _axis(start: float, length: float, printable: float,
          overlap: float) -> list[tuple[float, float, float]]:
    """Sheets along one axis: (first visible coordinate, trim start, trim end) each.

    Consecutive sheets advance by ``printable - overlap``; the seam (cut line) is in the middle
    of their overlap. A poster that fits on one sheet is centred on it.
    """
    step = printable - overlap
    n = max(1, math.ceil((length - overlap) / step - 1e-9))
    if n == 1:
        return [(start - (printable - length) / 2, start, start + length)]
    out = []
    for i in range(n):
        v0 = start + i * step
        t0 = v0 + overlap / 2 if i > 0 else start
        t1 = v0 + step + overlap / 2 if i < n - 1 else start + length
        out.append((v0, t0, t1))
    return out


def _grid(content: Rect, page: tuple[float, float]) -> TileGrid:
    pw, ph = page[0] - 2 * MARGIN_MM, page[1] - MARGIN_MM - FOOTER_MM
    xs = _axis(content.x0, content.width, pw, OVERLAP_MM)
    ys = _axis(content.y0, content.height, ph, OVERLAP_MM)
    tiles = tuple(
        Tile(r, c, page, Rect(vx, vy, vx + pw, vy + ph), Rect(tx0, ty0, tx1, ty1),
             (c > 0, r > 0, c < len(xs) - 1, r < len(ys) - 1))
        for r, (vy, ty0, ty1) in enumerate(ys) for c, (vx, tx0, tx1) in enumerate(xs))
    return TileGrid(len(ys), len(xs), tiles)


def tile_grid(content: Rect, paper: str) -> TileGrid:
    """Lay ``content`` out on sheets of ``paper`` (a key of :data:`PAPERS`, or ``"full"``).

    ``full`` is one page of the poster's size plus margins. A4 and Letter take whichever
    orientation needs fewer sheets (portrait on a tie).
    """
    if paper == "full":
        width = max(content.width + 2 * MARGIN_MM, MIN_PAGE_WIDTH_MM)
        return _grid(content, (width, content.height + MARGIN_MM + FOOTER_MM))
    w, h = PAPERS[paper]
    portrait, landscape = _grid(content, (w, h)), _grid(content, (h, w))
    return landscape if len(landscape.tiles) < len(portrait.tiles) else portrait
