"""The table of US (MUTCD-like) signs: outline, physical size, colours and legend of each class.

Every drawing is in millimetres of the conventional-road sizes of the MUTCD (2009, table 2B-1
and 2C-2): stop R1-1 750×750, yield R1-2 a 900 mm triangle, speed limit R2-1 600×750, warning
diamonds 750×750. Pictograms are simplified, but keep the silhouettes that tell the classes
apart (the direction of an arrow, the number of heads, a figure's stride).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from physsim_signs.canvas import Canvas, Color, Point, inset, regular_polygon, rounded_rect

RED: Color = (193, 32, 45)
WHITE: Color = (243, 243, 240)
BLACK: Color = (24, 24, 26)
YELLOW: Color = (252, 194, 18)
#: fluorescent yellow-green of school and pedestrian signs
FYG: Color = (200, 226, 30)
AMBER: Color = (248, 150, 20)
GREEN: Color = (30, 160, 95)

DIAMOND = [(375.0, 0.0), (750.0, 375.0), (375.0, 750.0), (0.0, 375.0)]


@dataclass(frozen=True)
class SignSpec:
    """One sign class: the classifier's label, the object name, size and drawing."""

    label: str
    object_name: str
    size_mm: tuple[float, float]
    mutcd: str
    draw: Callable[[Canvas], None]


def _arrow(c: Canvas, path: list[Point], width: float, head_len: float, head_w: float,
           color: Color = BLACK) -> None:
    """A stroked path ending in a filled triangular head along its last segment."""
    tip = np.asarray(path[-1], np.float64)
    d = tip - np.asarray(path[-2], np.float64)
    d /= np.linalg.norm(d)
    base = tip - d * head_len
    perp = np.array([-d[1], d[0]]) * head_w / 2
    c.polyline([*path[:-1], tuple(base + d * 2)], color, width)
    c.polygon([tuple(tip), tuple(base + perp), tuple(base - perp)], color)


def _warning(c: Canvas, color: Color = YELLOW) -> None:
    c.polygon(DIAMOND, color)
    c.polyline(inset(DIAMOND, 22), BLACK, 18, closed=True)


def _regulatory_rect(c: Canvas) -> None:
    w, h = c.size_mm
    c.polygon(rounded_rect(0, 0, w, h, 38), WHITE)
    c.polyline(rounded_rect(13, 13, w - 13, h - 13, 26), BLACK, 16, closed=True)


def _walker(c: Canvas, x: float, y: float, s: float) -> None:
    """A walking figure facing left, head at (x, y), ``s`` = scale (1 = 400 mm tall)."""
    def p(dx: float, dy: float) -> Point:
        return (x + dx * s, y + dy * s)

    c.circle(p(0, 0), 45 * s, BLACK)
    c.polyline([p(-10, 65), p(-35, 220)], BLACK, 62 * s)
    c.polyline([p(-35, 220), p(25, 320), p(45, 400)], BLACK, 46 * s)
    c.polyline([p(-35, 220), p(-95, 310), p(-150, 380)], BLACK, 46 * s)
    c.polyline([p(-10, 90), p(-80, 160), p(-105, 220)], BLACK, 40 * s)
    c.polyline([p(-8, 90), p(45, 160), p(75, 205)], BLACK, 40 * s)


def _stop(c: Canvas) -> None:
    octagon = regular_polygon((375, 375), 375 / np.cos(np.pi / 8), 8, 22.5)
    c.polygon(octagon, WHITE)
    c.polygon(inset(octagon, 20), RED)
    c.text("STOP", (375, 375), 250, WHITE, 42, max_width_mm=590)


def _yield(c: Canvas) -> None:
    tri = [(0.0, 0.0), (900.0, 0.0), (450.0, 450.0 * np.sqrt(3))]
    c.polygon(tri, RED)
    c.polygon(inset(tri, 115), WHITE)


def _speed(limit: int) -> Callable[[Canvas], None]:
    def draw(c: Canvas) -> None:
        _regulatory_rect(c)
        c.text("SPEED", (300, 145), 95, BLACK, 17, max_width_mm=470)
        c.text("LIMIT", (300, 275), 95, BLACK, 17, max_width_mm=470)
        c.text(str(limit), (300, 520), 270, BLACK, 38, max_width_mm=470)

    return draw


def _do_not_enter(c: Canvas) -> None:
    c.polygon(rounded_rect(0, 0, 750, 750, 38), WHITE)
    c.circle((375, 375), 355, RED)
    c.polygon([(115, 335), (635, 335), (635, 415), (115, 415)], WHITE)
    c.text("DO NOT", (375, 240), 80, WHITE, 15, max_width_mm=430)
    c.text("ENTER", (375, 515), 80, WHITE, 15, max_width_mm=430)


def _keep_right(c: Canvas) -> None:
    _regulatory_rect(c)
    c.circle((215, 540), 75, BLACK)
    _arrow(c, [(215, 150), (330, 330), (400, 610)], 58, 120, 165)


def _pedestrian(c: Canvas) -> None:
    _warning(c, FYG)
    _walker(c, 425, 180, 1.0)


def _school(c: Canvas) -> None:
    pentagon = [(375.0, 0.0), (750.0, 375.0), (750.0, 750.0), (0.0, 750.0), (0.0, 375.0)]
    c.polygon(pentagon, FYG)
    c.polyline([(375, 30), (728, 384), (728, 728), (22, 728), (22, 384)], BLACK, 18,
               closed=True)
    _walker(c, 300, 270, 0.95)
    _walker(c, 505, 400, 0.62)


def _signal_ahead(c: Canvas) -> None:
    _warning(c)
    c.polygon(rounded_rect(295, 150, 455, 600, 30), BLACK)
    for y, color in ((240, RED), (375, AMBER), (510, GREEN)):
        c.circle((375, y), 55, color)


def _merge(c: Canvas) -> None:
    _warning(c)
    _arrow(c, [(430, 590), (430, 175)], 62, 120, 175)
    c.polyline([(265, 560), (285, 470), (335, 405), (410, 345)], BLACK, 58)


def _added_lane(c: Canvas) -> None:
    _warning(c)
    _arrow(c, [(285, 560), (285, 195)], 56, 115, 160)
    _arrow(c, [(500, 540), (495, 460), (458, 385), (455, 195)], 56, 115, 160)


def _lane_ends(c: Canvas) -> None:
    _warning(c)
    c.polyline([(280, 580), (280, 190)], BLACK, 50)
    c.polyline([(470, 580), (470, 430), (380, 330), (380, 190)], BLACK, 50)


def _stop_ahead(c: Canvas) -> None:
    _warning(c)
    octagon = regular_polygon((375, 265), 125, 8, 22.5)
    c.polygon(octagon, WHITE)
    c.polygon(inset(octagon, 8), RED)
    c.text("STOP", (375, 265), 55, WHITE, 11, max_width_mm=165)
    _arrow(c, [(375, 640), (375, 420)], 62, 115, 170)


def _turn(direction: int) -> Callable[[Canvas], None]:
    def draw(c: Canvas) -> None:
        _warning(c)
        x = 375 - 60 * direction
        _arrow(c, [(x, 580), (x, 340), (375 + 165 * direction, 340)], 70, 135, 210)

    return draw


def _spec(label: str, size: tuple[float, float], mutcd: str, draw: Callable[[Canvas], None],
          object_name: str | None = None) -> SignSpec:
    return SignSpec(label, object_name or f"{label}_sign", size, mutcd, draw)


SIGNS: tuple[SignSpec, ...] = (
    _spec("stop", (750, 750), "R1-1", _stop),
    _spec("yield", (900, 450 * np.sqrt(3)), "R1-2", _yield),
    *(_spec(f"speed_limit_{v}", (600, 750), "R2-1", _speed(v), f"speed_limit_{v}")
      for v in (25, 30, 35, 45, 55, 65)),
    _spec("do_not_enter", (750, 750), "R5-1", _do_not_enter),
    _spec("keep_right", (600, 750), "R4-7", _keep_right),
    _spec("pedestrian_crossing", (750, 750), "W11-2", _pedestrian),
    _spec("school_crossing", (750, 750), "S1-1", _school),
    _spec("signal_ahead", (750, 750), "W3-3", _signal_ahead),
    _spec("stop_ahead", (750, 750), "W3-1", _stop_ahead),
    _spec("merge", (750, 750), "W4-1", _merge),
    _spec("added_lane", (750, 750), "W4-3", _added_lane),
    _spec("lane_ends", (750, 750), "W4-2", _lane_ends),
    _spec("turn_left", (750, 750), "W1-1L", _turn(-1)),
    _spec("turn_right", (750, 750), "W1-1R", _turn(1)),
)

#: the class names, in the classifiers' logit order
LABELS: tuple[str, ...] = tuple(s.label for s in SIGNS)
