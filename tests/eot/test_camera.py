"""Pose and crop geometry against OpenCV's pinhole projection, and the window a detector crops."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from physsim.eot.base import Camera, Frame
from physsim.eot.camera import Crop, Pose
from physsim.testing import GeometricTransformContract

CAMERA = Camera.from_fov(60.0, (1280, 720))


class TestPoseContract(GeometricTransformContract):
    transform_class = Pose


class TestCropContract(GeometricTransformContract):
    transform_class = Crop


def _frame(n: int, tex: int = 100, mm: tuple[float, float] = (750.0, 500.0)) -> Frame:
    size_mm = torch.tensor([mm], dtype=torch.float64).expand(n, 2)
    return Frame.texture((tex, tex), size_mm, CAMERA)


def _pose_params(**values: float) -> dict[str, torch.Tensor]:
    base = {"distance_m": 5.0, "yaw_deg": 0.0, "pitch_deg": 0.0, "roll_deg": 0.0,
            "offset_x": 0.0, "offset_y": 0.0, **values}
    return {k: torch.tensor([v]) for k, v in base.items()}


@pytest.mark.parametrize(("yaw", "pitch", "roll", "dist"), [
    (0.0, 0.0, 0.0, 5.0), (30.0, -8.0, 5.0, 3.0), (-60.0, 20.0, -15.0, 11.0)])
def test_pose_matches_cv2_project_points(yaw: float, pitch: float, roll: float,
                                         dist: float) -> None:
    frame = Pose().compose(_frame(1), _pose_params(distance_m=dist, yaw_deg=yaw,
                                                   pitch_deg=pitch, roll_deg=roll), (32, 32))
    # the texture's corners (pixel edges) in metres on the object's plane, centred
    w, h = 0.75, 0.5
    obj = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0],
                    [-w / 2, h / 2, 0]], dtype=np.float64)
    rad = np.deg2rad
    rot = (cv2.Rodrigues(np.array([0, 0, rad(roll)]))[0]
           @ cv2.Rodrigues(np.array([0, rad(yaw), 0]))[0]
           @ cv2.Rodrigues(np.array([rad(pitch), 0, 0]))[0])
    k = CAMERA.intrinsics().numpy()
    ref, _ = cv2.projectPoints(obj, cv2.Rodrigues(rot)[0], np.array([0, 0, dist], np.float64),
                               k, None)
    np.testing.assert_allclose(frame.corners()[0].numpy(), ref[:, 0], atol=1e-6)


def test_offset_places_the_centre_and_keeps_the_object_facing_the_camera() -> None:
    p = _pose_params(distance_m=4.0, offset_x=0.5, offset_y=-0.25)
    m = Pose().compose(_frame(1, tex=101), p, (32, 32)).matrix[0]
    c = m @ torch.tensor([50.0, 50.0, 1.0], dtype=torch.float64)
    w, h = CAMERA.resolution
    assert c[0] / c[2] == pytest.approx((w - 1) / 2 + 0.5 * w / 2)
    assert c[1] / c[2] == pytest.approx((h - 1) / 2 - 0.25 * h / 2)
    # K^-1 M (texture -> plane metres)^-1 = [r1 r2 t]: the plane's normal r1 x r2 is the line
    # of sight t, and |t| is the distance
    s_x, s_y = 0.75 / 101, 0.5 / 101
    plane = torch.tensor([[s_x, 0, -50 * s_x], [0, s_y, -50 * s_y], [0, 0, 1]],
                         dtype=torch.float64)
    ext = torch.linalg.inv(CAMERA.intrinsics()) @ m @ torch.linalg.inv(plane)
    normal = torch.linalg.cross(ext[:, 0], ext[:, 1])
    t = ext[:, 2]
    assert t.norm().item() == pytest.approx(4.0)
    assert torch.linalg.cross(normal, t).norm().item() < 1e-9


def test_yaw_foreshortens_a_distant_object_by_its_cosine() -> None:
    def width(yaw: float) -> float:
        c = Pose().compose(_frame(1), _pose_params(distance_m=60.0, yaw_deg=yaw),
                           (32, 32)).corners()[0]
        return float(c[:, 0].max() - c[:, 0].min())

    assert width(60.0) / width(0.0) == pytest.approx(math.cos(math.radians(60)), rel=0.01)
    assert width(0.0) == pytest.approx(CAMERA.focal_px * 0.75 / 60.0, rel=1e-6)


def test_crop_frames_the_bounding_box_with_its_margin() -> None:
    frame = Pose().compose(_frame(2), {k: v.repeat(2) for k, v in _pose_params().items()},
                           (40, 40))
    params = {"margin": torch.tensor([0.0, 0.25]), "shift_x": torch.tensor([0.0, 0.0]),
              "shift_y": torch.tensor([0.0, 0.1])}
    win = Crop().compose(frame, params, (40, 40))
    c = win.corners()
    # margin 0: the object's wider side spans the window edge to edge (pixel edges -0.5, 39.5)
    assert c[0, :, 0].min().item() == pytest.approx(-0.5)
    assert c[0, :, 0].max().item() == pytest.approx(39.5)
    # margin 0.25 on each side: the object spans 1 / 1.5 of the window
    span = (c[1, :, 0].max() - c[1, :, 0].min()).item()
    assert span == pytest.approx(40 / 1.5)
    # the window scale: window pixels per camera pixel
    cam_w = (frame.corners()[0, :, 0].max() - frame.corners()[0, :, 0].min()).item()
    assert win.px_scale[0].item() == pytest.approx(40 / cam_w)


def test_crop_keeps_the_object_aspect_ratio() -> None:
    frame = _frame(1, mm=(750.0, 500.0))
    win = Crop().compose(frame, {"margin": torch.zeros(1), "shift_x": torch.zeros(1),
                                 "shift_y": torch.zeros(1)}, (30, 60))
    m = win.matrix[0]
    assert m[0, 0].item() == pytest.approx(m[1, 1].item())
