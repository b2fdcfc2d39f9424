"""Geometry: the object's pose in front of a pinhole camera, and the detector's crop window.

Conventions: camera axes x right, y down, z forward (OpenCV). The object is a plane whose
texture x/y axes are the camera's x/y when it faces the camera upright. Angles are relative to
the line of sight, so yaw 30 degrees is a 30 degree view of the object wherever it sits in the
frame: yaw turns the object about its vertical axis, pitch about its horizontal axis, roll about
the line of sight (applied in that order: pitch, yaw, roll). Positive yaw turns the object's
right edge towards the camera, positive pitch tilts its bottom edge away from it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated

import torch
from pydantic import Field

from physsim.eot.base import Camera, Frame, GeometricTransform, Params, require
from physsim.eot.ranges import FAR_M, Bounds, Pair, uniforms
from physsim.options import Options


def _rots(rad: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3, 3): rotations about z, y and x by ``rad`` (n, 3) (roll, yaw, pitch), in one
    batch: the cosines and sines of all three angles come from one call each."""
    c, s = torch.cos(rad), torch.sin(rad)
    o, z, ns = torch.ones_like(c), torch.zeros_like(c), -s
    # the nine entries of each matrix, row-major, from the (n,) columns of its angle
    cz, cy, cx = c.unbind(1)
    sz, sy, sx = s.unbind(1)
    nz, ny, nx = ns.unbind(1)
    oo, zz = o[:, 0], z[:, 0]
    return torch.stack([
        torch.stack([cz, nz, zz, sz, cz, zz, zz, zz, oo], -1),
        torch.stack([cy, zz, sy, zz, oo, zz, ny, zz, cy], -1),
        torch.stack([oo, zz, zz, zz, cx, nx, zz, sx, cx], -1)], 1).view(-1, 3, 3, 3)


@lru_cache(maxsize=32)
def _intrinsics(camera: Camera, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The camera's K (3, 3) and the transpose of its inverse, float64, made once per device."""
    k = camera.intrinsics(torch.float64, device)
    return k, torch.linalg.inv(k).T


def _towards(d: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3) the smallest rotation taking +z to the unit vectors ``d`` (n, 3) (Rodrigues)."""
    vx, vy, c = -d[:, 1], d[:, 0], d[:, 2]  # v = z x d
    z = torch.zeros_like(c)
    vmat = torch.stack([z, z, vy, z, z, -vx, -vy, vx, z], -1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=d.dtype, device=d.device)
    # (1 - c) / |v|^2 == 1 / (1 + c): finite when d == z
    return eye + vmat + torch.bmm(vmat, vmat) / (1.0 + c).view(-1, 1, 1)


def pose_matrix(frame: Frame, distance_m: torch.Tensor, yaw_deg: torch.Tensor,
                pitch_deg: torch.Tensor, roll_deg: torch.Tensor,
                offset: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3) homography from texture index coordinates to camera index coordinates.

    Args:
        frame: the texture frame (texture size, physical size, camera).
        distance_m: (n,) distance from the camera centre to the object centre, metres.
        yaw_deg, pitch_deg, roll_deg: (n,) angles relative to the line of sight.
        offset: (n, 2) where the object centre appears, as a fraction of the half frame
            (0 = centre, 1 = the right/bottom edge).
    """
    dt, dev = torch.float64, frame.matrix.device
    cam = frame.camera
    k, k_inv_t = _intrinsics(cam, dev)
    w, h = cam.resolution
    pix = torch.stack([(w - 1) / 2 + offset[:, 0].double() * w / 2,
                       (h - 1) / 2 + offset[:, 1].double() * h / 2,
                       torch.ones_like(distance_m, dtype=dt)], -1)
    ray = pix @ k_inv_t
    ray = ray / ray.norm(dim=1, keepdim=True)
    r = _rots(torch.deg2rad(torch.stack([roll_deg, yaw_deg, pitch_deg], -1).double()))
    # (products of (n, 3, 3) batches as bmm: what matmul runs for them, without its reshapes)
    rot = torch.bmm(torch.bmm(torch.bmm(_towards(ray), r[:, 0]), r[:, 1]), r[:, 2])
    t = ray * distance_m.double().view(-1, 1)
    th, tw = frame.texture_size
    wm, hm = frame.size_mm[:, 0] / 1000.0, frame.size_mm[:, 1] / 1000.0
    zero, one = torch.zeros_like(wm), torch.ones_like(wm)
    # texture index coordinates -> metres on the plane, centred on the object
    plane = torch.stack([wm / tw, zero, (0.5 / tw - 0.5) * wm, zero, hm / th,
                         (0.5 / th - 0.5) * hm, zero, zero, one], -1).view(-1, 3, 3)
    ext = torch.stack([rot[:, :, 0], rot[:, :, 1], t], -1)
    return torch.bmm(k @ ext, plane)


#: The nearest any point of the object may come to the camera, metres along its axis: nearer
#: (or behind it), the view is impossible and the projection degenerates.
NEAR_M = 0.01


def nearest_depth(camera: Camera, size_mm: tuple[float, float] | torch.Tensor,
                  params: Params) -> torch.Tensor:
    """(n,) depth in metres of the object's nearest corner under the pose ``params`` (a flat
    object's nearest point is a corner); ``size_mm``: one (width, height), or (n, 2)."""
    dist = params["distance_m"]
    n, dev = dist.shape[0], dist.device
    frame = Frame.texture((2, 2), torch.as_tensor(size_mm, dtype=torch.float64, device=dev)
                          .expand(n, 2), camera)
    offset = torch.stack([params["offset_x"], params["offset_y"]], -1)
    m = pose_matrix(frame, dist, params["yaw_deg"], params["pitch_deg"], params["roll_deg"],
                    offset)
    corners = torch.tensor([[-0.5, -0.5, 1.0], [1.5, -0.5, 1.0], [1.5, 1.5, 1.0],
                            [-0.5, 1.5, 1.0]], dtype=torch.float64, device=dev)
    # K's last row is (0, 0, 1): the third coordinate of a projected point is its depth
    return (m[:, 2] @ corners.T).amin(1)


def least_depth(camera: Camera, size_mm: tuple[float, float], distance_m: float,
                yaw_deg: float, pitch_deg: float, offset: float) -> float:
    """A lower bound on the depth (m) of every point of the object over all poses at
    ``distance_m`` with |yaw|, |pitch| and |offset| up to the values given, any roll.

    The larger of two bounds. The centre lies at depth ``d cos(theta)``, theta being the angle
    between its line of sight and the camera's axis. (1) The object's plane is tilted from the
    line of sight by ``acos(cos yaw cos pitch)`` (roll turns it within its plane), so from the
    camera's image plane by at most that plus theta, and its points lie within half its
    diagonal r of the centre. (2) Along the line of sight, a point (x, y) of the plane (half
    sizes a, b) lies ``-x sin(yaw) + y cos(yaw) sin(pitch)`` from the centre, whatever the roll
    (a turn about that line), so at least ``d - a sin|yaw| - b sin|pitch|`` away; turning the
    line of sight by theta costs at most ``r sin(theta)``.
    """
    w, h = camera.resolution
    theta = math.atan(math.hypot(offset * w / 2, offset * h / 2) / camera.focal_px)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    a, b = size_mm[0] / 2000.0, size_mm[1] / 2000.0
    r = math.hypot(a, b)
    tilt = math.acos(math.cos(yaw) * math.cos(pitch))
    tilted = distance_m * math.cos(theta) - r * math.sin(min(math.pi / 2, tilt + theta))
    along = (distance_m - a * math.sin(yaw) - b * math.sin(pitch)) * math.cos(theta) \
        - r * math.sin(theta)
    return max(tilted, along)


class Pose(GeometricTransform):
    """Places the object in front of the camera: distance, yaw, pitch, roll, off-centre offset.

    Params: ``distance_m``, ``yaw_deg``, ``pitch_deg``, ``roll_deg``, ``offset_x``, ``offset_y``,
    each (n,) in the units their names say; the pipeline's evaluation grid fixes them by name.
    """

    name = "pose"
    accepts = ("texture",)
    produces = "camera"

    class Options(Options):
        distance_m: Annotated[Pair, Bounds(gt=0, le=FAR_M)] = (1.5, 12.0)
        yaw_deg: Annotated[Pair, Bounds(abs_lt=90)] = (-45.0, 45.0)
        pitch_deg: Annotated[Pair, Bounds(abs_lt=90)] = (-10.0, 10.0)
        roll_deg: Annotated[Pair, Bounds(ge=-180, le=180)] = (-8.0, 8.0)
        offset: Annotated[Pair, Bounds(ge=-1, le=1)] = (-0.2, 0.2)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        o = self.options
        return uniforms({"distance_m": o.distance_m, "yaw_deg": o.yaw_deg,
                         "pitch_deg": o.pitch_deg, "roll_deg": o.roll_deg,
                         "offset_x": o.offset, "offset_y": o.offset}, n, generator)

    def check_params(self, params: Params) -> None:
        require(params, "distance_m", f"positive (metres in front of the camera) and at most "
                f"{FAR_M:g}", lambda v: (v > 0) & (v <= FAR_M))
        for name in ("offset_x", "offset_y"):
            require(params, name, "between -1 and 1 (the object's centre inside the frame)",
                    lambda v: v.abs() <= 1)
        require(params, "roll_deg", "between -180 and 180 degrees", lambda v: v.abs() <= 180)
        for name in ("yaw_deg", "pitch_deg"):
            require(params, name, "strictly between -90 and 90 degrees (beyond, the camera sees "
                    "the object's back)", lambda v: v.abs() < 90)

    def compose(self, frame: Frame, params: Params, output_size: tuple[int, int]) -> Frame:
        offset = torch.stack([params["offset_x"], params["offset_y"]], -1)
        m = pose_matrix(frame, params["distance_m"], params["yaw_deg"], params["pitch_deg"],
                        params["roll_deg"], offset)
        w, h = frame.camera.resolution
        return frame.then(m, "camera", (h, w), torch.ones_like(frame.px_scale))


def window_matrix(frame: Frame, margin: torch.Tensor, shift: torch.Tensor,
                  output_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The detector crop: (n, 3, 3) frame -> window coordinates, and (n,) window px per frame px.

    The window is the object's bounding box in ``frame``, grown by ``margin`` (a fraction of the
    box size on every side), moved by ``shift`` (n, 2) (a fraction of the box size), then grown
    along one axis to the output's aspect ratio so that the object is not stretched.
    """
    c = frame.corners()
    lo, hi = c.amin(1), c.amax(1)
    size = (hi - lo) * (1.0 + 2.0 * margin.double().view(-1, 1))
    centre = (lo + hi) / 2 + shift.double() * (hi - lo)
    oh, ow = output_size
    scale = torch.minimum(ow / size[:, 0], oh / size[:, 1])
    left = centre[:, 0] - ow / scale / 2
    top = centre[:, 1] - oh / scale / 2
    zero, one = torch.zeros_like(scale), torch.ones_like(scale)
    # left/top are where the window's outer edge lies in frame coordinates; the window's
    # pixel i has its centre half a pixel inside that edge
    m = torch.stack([scale, zero, -left * scale - 0.5, zero, scale, -top * scale - 0.5,
                     zero, zero, one], -1).view(-1, 3, 3)
    return m, scale


class Crop(GeometricTransform):
    """The window a detector would hand the classifier: the object's box, margin and jitter.

    Params: ``margin`` (n,) fraction of the box added on every side; ``shift_x``, ``shift_y``
    (n,) displacement of the window centre as a fraction of the box size.
    """

    name = "crop"
    accepts = ("texture", "camera")
    produces = "window"

    class Options(Options):
        margin: Annotated[Pair, Bounds(ge=0, le=4)] = (0.05, 0.25)
        jitter: float = Field(0.05, ge=0, le=1)

    options: Options

    def sample(self, n: int, generator: torch.Generator) -> Params:
        j = self.options.jitter
        return uniforms({"margin": self.options.margin, "shift_x": (-j, j), "shift_y": (-j, j)},
                        n, generator)

    def check_params(self, params: Params) -> None:
        require(params, "margin", "between 0 and 4", lambda v: (v >= 0) & (v <= 4))
        for name in ("shift_x", "shift_y"):
            require(params, name, "between -1 and 1 (jitter is at most 1)",
                    lambda v: v.abs() <= 1)

    def compose(self, frame: Frame, params: Params, output_size: tuple[int, int]) -> Frame:
        shift = torch.stack([params["shift_x"], params["shift_y"]], -1)
        m, scale = window_matrix(frame, params["margin"], shift, output_size)
        return frame.then(m, "window", output_size, frame.px_scale * scale)
