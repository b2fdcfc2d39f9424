"""A small drawing surface in millimetres over OpenCV, for the procedural sign renderer.

Signs are specified in the physical units of the MUTCD drawings (millimetres from the top-left
corner of the sign's bounding box), so every legend scales with the sign. The canvas draws at
``supersample`` times the output resolution with anti-aliased primitives and reduces with
``INTER_AREA``, which gives clean edges and a soft alpha outline.

The pixel array is RGBA in that channel order: OpenCV's drawing functions do not interpret
channels, so colours are passed as (R, G, B, A) and no BGR conversion is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Color = tuple[int, int, int]
Point = tuple[float, float]

#: fixed-point bits for sub-pixel coordinates in OpenCV's polygon and line functions
_SHIFT = 4


class Canvas:
    """An RGBA canvas addressed in millimetres.

    Args:
        size_mm: (width, height) of the sign's bounding box in millimetres.
        size_px: pixels along the larger side of the final image.
        supersample: drawing resolution factor before the area-averaging reduction.
    """

    def __init__(self, size_mm: tuple[float, float], size_px: int, supersample: int = 3) -> None:
        w_mm, h_mm = size_mm
        scale = size_px / max(w_mm, h_mm)
        self.out_size = (max(1, round(w_mm * scale)), max(1, round(h_mm * scale)))
        self.px_per_mm = scale * supersample
        w, h = (s * supersample for s in self.out_size)
        self.pixels = np.zeros((h, w, 4), np.uint8)
        self.size_mm = size_mm

    def _px(self, pts: Sequence[Point]) -> np.ndarray:
        k = self.px_per_mm * (1 << _SHIFT)
        return np.round(np.asarray(pts, np.float64) * k).astype(np.int32).reshape(-1, 1, 2)

    def _len(self, mm: float) -> int:
        return max(1, round(mm * self.px_per_mm))

    def polygon(self, pts: Sequence[Point], color: Color) -> None:
        """Fill a polygon (vertices in mm)."""
        cv2.fillPoly(self.pixels, [self._px(pts)], (*color, 255), cv2.LINE_AA, _SHIFT)

    def polyline(self, pts: Sequence[Point], color: Color, width_mm: float,
                 closed: bool = False) -> None:
        """Stroke a path with round joins; ``width_mm`` is the stroke width."""
        cv2.polylines(self.pixels, [self._px(pts)], closed, (*color, 255), self._len(width_mm),
                      cv2.LINE_AA, _SHIFT)

    def circle(self, center: Point, radius_mm: float, color: Color,
               width_mm: float | None = None) -> None:
        """A filled disc, or a ring of ``width_mm`` when given."""
        (c,) = self._px([center]).reshape(-1, 2)
        r = round(radius_mm * self.px_per_mm * (1 << _SHIFT))
        thick = -1 if width_mm is None else self._len(width_mm)
        cv2.circle(self.pixels, (int(c[0]), int(c[1])), r, (*color, 255), thick, cv2.LINE_AA,
                   _SHIFT)

    def text(self, text: str, center: Point, height_mm: float, color: Color,
             stroke_mm: float, max_width_mm: float | None = None) -> None:
        """Draw ``text`` centred on ``center`` with capitals ``height_mm`` tall.

        The Hershey fonts stand in for the FHWA Highway Gothic alphabets; the text is squeezed
        horizontally when it would exceed ``max_width_mm``.
        """
        font = cv2.FONT_HERSHEY_DUPLEX
        thick = self._len(stroke_mm)
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
        scale = height_mm * self.px_per_mm / th
        layer = np.zeros((round(th * scale) + 4 * thick, round(tw * scale) + 4 * thick), np.uint8)
        cv2.putText(layer, text, (2 * thick, layer.shape[0] - 2 * thick), font, scale, 255,
                    thick, cv2.LINE_AA)
        width_px = layer.shape[1]
        if max_width_mm is not None and width_px > max_width_mm * self.px_per_mm:
            width_px = max(1, round(max_width_mm * self.px_per_mm))
            layer = np.asarray(cv2.resize(layer, (width_px, layer.shape[0]),
                                          interpolation=cv2.INTER_AREA), np.uint8)
        cx, cy = (v * self.px_per_mm for v in center)
        self._blend(layer, round(cx - width_px / 2), round(cy - layer.shape[0] / 2), color)

    def _blend(self, layer: np.ndarray, x0: int, y0: int, color: Color) -> None:
        """Composite a coverage mask onto the canvas in ``color`` (clipped at the edges)."""
        h, w = self.pixels.shape[:2]
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + layer.shape[1], w), min(
            y0 + layer.shape[0], h)
        if xa >= xb or ya >= yb:
            return
        cov = layer[ya - y0:yb - y0, xa - x0:xb - x0, None].astype(np.float32) / 255.0
        region = self.pixels[ya:yb, xa:xb].astype(np.float32)
        paint = np.array([*color, 255], np.float32)
        self.pixels[ya:yb, xa:xb] = np.round(region * (1 - cov) + paint * cov).astype(np.uint8)

    def result(self) -> np.ndarray:
        """The reduced image: (H, W, 4) float32 straight (not premultiplied) RGBA in [0, 1]."""
        # Anti-aliased drawing over the transparent black outside blends colour and alpha alike,
        # so the pixels are premultiplied; reducing them as such keeps edges from darkening.
        rgba = self.pixels.astype(np.float32) / 255.0
        small = cv2.resize(rgba, self.out_size, interpolation=cv2.INTER_AREA)
        alpha = small[..., 3:]
        small[..., :3] = np.where(alpha > 1e-6, small[..., :3] / np.maximum(alpha, 1e-6), 0.0)
        return np.clip(small, 0.0, 1.0)


def regular_polygon(center: Point, radius: float, sides: int, rotation_deg: float) -> list[Point]:
    """Vertices of a regular polygon with circumradius ``radius`` (mm), y pointing down."""
    angles = np.deg2rad(rotation_deg + 360.0 * np.arange(sides) / sides)
    return [(center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)) for a in angles]


def inset(pts: Sequence[Point], distance: float) -> list[Point]:
    """Shrink a polygon that has an incircle (regular polygons, diamonds, equilateral
    triangles) by ``distance`` mm perpendicular to every edge: a scaling about its incentre."""
    p = np.asarray(pts, np.float64)
    centre = p.mean(0)
    edges = np.roll(p, -1, 0) - p
    normals = np.stack([edges[:, 1], -edges[:, 0]], 1) / np.linalg.norm(edges, axis=1)[:, None]
    apothem = np.abs(((centre - p) * normals).sum(1)).min()
    k = (apothem - distance) / apothem
    return [(float(x), float(y)) for x, y in centre + (p - centre) * k]


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> list[Point]:
    """Vertices of a rectangle with corner radius ``r`` (all in mm)."""
    pts: list[Point] = []
    corners = ((x1 - r, y0 + r, 270), (x1 - r, y1 - r, 0), (x0 + r, y1 - r, 90),
               (x0 + r, y0 + r, 180))
    for cx, cy, start in corners:
        for a in np.deg2rad(np.linspace(start, start + 90, 10)):
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return pts
