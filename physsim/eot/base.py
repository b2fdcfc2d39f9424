"""The transform contracts: ``sample(n, generator) -> params``, ``apply(images, params)``
(and, optionally, ``prepare(params, size, dtype)``: what ``apply`` needs from the params alone).

Three kinds of transform meet in an EOT pipeline:

- :class:`Transform` (image space): lighting, printer colour, blur, noise, JPEG. ``apply`` maps
  images (n, C, H, W) to images of the same shape.
- :class:`GeometricTransform`: a step of the map from texture pixels to the pixels the classifier
  sees (camera pose, detector crop). It does not resample by itself inside a pipeline: it returns
  a 3x3 matrix per sample, the pipeline multiplies them into one homography and warps once.
- :class:`BackgroundTransform`: draws what lies behind the object; the pipeline composites the
  warped RGBA object over it.

Pixel coordinates are *index* coordinates throughout (the centre of pixel ``i`` is at ``i``), the
convention of ``cv2.warpPerspective``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import ClassVar

import torch

from physsim.component import Component

#: A batch of parameters: each value has the batch size n as its first dimension.
Params = dict[str, torch.Tensor]

#: The key under which a pipeline passes window pixels per camera pixel, shape (n,), to
#: transforms with ``camera_pixels = True`` (so a blur in camera pixels shrinks with the crop).
PX_SCALE = "px_scale"


class Transform(Component):
    """An EOT transform with the sample/apply split (kornia's routine).

    ``sample`` draws a typed batch of parameters from an explicit generator; ``apply`` is a
    pure, differentiable function of images and parameters, so saved parameters replay the
    same images.

    Attributes:
        camera_pixels: the transform's sizes are in camera pixels; a pipeline adds
            ``params["px_scale"]`` (window pixels per camera pixel, shape (n,)) when applying it.
            Absent, transforms take the scale as 1.
    """

    kind = "transform"
    camera_pixels: ClassVar[bool] = False

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Params:
        """Draw parameters for n samples on the generator's device."""

    @abstractmethod
    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """Images (n, C, H, W) in [0, 1] and params of n samples -> images, same shape."""

    def prepare(self, params: Params, size: tuple[int, int], dtype: torch.dtype) -> Params:
        """What :meth:`apply` would compute from the params alone, for n samples at once.

        Optional (the default prepares nothing). A pipeline rendering samples prepared ahead
        (:meth:`physsim.eot.Pipeline.prepare`: an attack's objective prepares the samples of
        many steps in one batch) calls it once for all of them, and later hands :meth:`apply`
        each step's rows of the result among its params. ``apply`` must give the same images
        with them as without (to float rounding: an elementwise function computed over a
        larger batch may round a last bit differently), and must not require them (it is also
        called without). Only work that costs more per call than per sample is worth
        preparing: many small operations on small windows.

        Args:
            params: n samples' params (with ``px_scale`` if :attr:`camera_pixels`).
            size: (h, w) of the images :meth:`apply` will receive, 3 channels.
            dtype: their floating type.

        Returns:
            Tensors whose first dimension is n, under names that begin with ``"prepared_"``.
        """
        return {}

    def check_params(self, params: Params) -> None:
        """Raise ``ValueError`` naming the param if ``params`` are impossible.

        Called on params given or replayed from a file (never on drawn ones), after their
        names and shapes were found to match :meth:`sample`'s. Impossible means outside what
        any options allow (the limits a scene file's ranges are checked against: a negative
        distance, a JPEG quality above 100, an offset that puts the object's centre outside
        the frame), not merely outside this transform's configured ranges. The default accepts
        everything.
        """


@dataclass(frozen=True)
class Camera:
    """A pinhole camera without lens distortion.

    Attributes:
        focal_px: focal length in pixels.
        resolution: (width, height) of the full frame in pixels.
    """

    focal_px: float
    resolution: tuple[int, int]

    @classmethod
    def from_fov(cls, fov_deg: float, resolution: tuple[int, int]) -> Camera:
        """A camera whose horizontal field of view is ``fov_deg``."""
        half = torch.deg2rad(torch.tensor(fov_deg / 2.0, dtype=torch.float64))
        return cls(float(resolution[0] / 2.0 / torch.tan(half)), resolution)

    def intrinsics(self, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = "cpu") -> torch.Tensor:
        """K (3, 3) in index coordinates (principal point at the frame centre)."""
        w, h = self.resolution
        return torch.tensor([[self.focal_px, 0.0, (w - 1) / 2.0],
                             [0.0, self.focal_px, (h - 1) / 2.0],
                             [0.0, 0.0, 1.0]], dtype=dtype, device=device)


@lru_cache(maxsize=32)
def _corner_points(texture_size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(4, 3) homogeneous outer corners of a texture (pixel edges), float64."""
    h, w = texture_size
    return torch.tensor([[-0.5, -0.5, 1.0], [w - 0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0],
                         [-0.5, h - 0.5, 1.0]], dtype=torch.float64, device=device)


@dataclass(frozen=True)
class Frame:
    """Where geometric transforms compose: a map from texture pixels into some frame's pixels.

    Attributes:
        name: "texture" (the texture itself), "camera" (the full camera frame) or "window"
            (the classifier's input window).
        matrix: (n, 3, 3) float64, texture index coordinates -> frame index coordinates.
        size: (height, width) of the frame in pixels.
        texture_size: (height, width) of the texture in pixels.
        size_mm: (n, 2) float64 physical (width, height) of the texture in millimetres.
        camera: the camera the "camera" frame belongs to.
        px_scale: (n,) frame pixels per camera pixel (ones until a crop rescales).
    """

    name: str
    matrix: torch.Tensor
    size: tuple[int, int]
    texture_size: tuple[int, int]
    size_mm: torch.Tensor
    camera: Camera
    px_scale: torch.Tensor

    @classmethod
    def texture(cls, texture_size: tuple[int, int], size_mm: torch.Tensor,
                camera: Camera) -> Frame:
        """The starting frame: the identity map on the texture, for ``size_mm.shape[0]`` samples."""
        n = size_mm.shape[0]
        eye = torch.eye(3, dtype=torch.float64, device=size_mm.device).expand(n, 3, 3)
        ones = torch.ones(n, dtype=torch.float64, device=size_mm.device)
        return cls("texture", eye, texture_size, texture_size, size_mm.double(), camera, ones)

    def then(self, matrix: torch.Tensor, name: str, size: tuple[int, int],
             px_scale: torch.Tensor | None = None) -> Frame:
        """This frame followed by ``matrix`` (n, 3, 3) mapping it into a new frame."""
        return replace(self, name=name, matrix=torch.bmm(matrix, self.matrix), size=size,
                       px_scale=self.px_scale if px_scale is None else px_scale)

    def corners(self) -> torch.Tensor:
        """(n, 4, 2) the texture's outer corners (pixel edges) in this frame's coordinates."""
        p = _corner_points(self.texture_size, self.matrix.device) @ self.matrix.transpose(1, 2)
        return p[..., :2] / p[..., 2:]


class GeometricTransform(Transform):
    """A step of the texture -> window map, contributing a 3x3 matrix per sample.

    Subclasses implement :meth:`compose`. Inside a pipeline, every geometric step is multiplied
    into one homography and the texture is resampled once. ``apply`` on its own warps images
    as if they were the object's texture (see :func:`physsim.eot.warp.apply_geometric`).

    Attributes:
        accepts: names of the frames this step may follow ("texture", "camera", "window").
        produces: the name of the frame it maps into.
    """

    accepts: ClassVar[tuple[str, ...]] = ("texture",)
    produces: ClassVar[str] = "texture"

    @abstractmethod
    def compose(self, frame: Frame, params: Params, output_size: tuple[int, int]) -> Frame:
        """The frame after this step, given the frame before it and params of n samples."""

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """Warp images (n, C, H, W), taken as the object's texture, to the same size."""
        from physsim.eot.warp import apply_geometric

        return apply_geometric(self, images, params)


class BackgroundTransform(Transform):
    """Draws the scene behind the object, in batch, from the params.

    ``apply`` composites straight-alpha RGBA images (n, 4, H, W) over the background and
    returns RGB (n, 3, H, W); RGB images count as opaque and come back unchanged.
    """

    @abstractmethod
    def generate(self, params: Params, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """(n, 3, h, w) backgrounds in [0, 1] on the params' device."""

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        if images.shape[1] == 3:
            return images
        rgb, alpha = images[:, :3], images[:, 3:4]
        bg = self.generate(params, (images.shape[-2], images.shape[-1]), images.dtype)
        return rgb * alpha + bg * (1 - alpha)


def require(params: Params, name: str, what: str,
            ok: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """For :meth:`Transform.check_params`: ``ValueError("{name} must be {what}, got ...")``
    with the first value of ``params[name]`` where ``ok`` is false."""
    value = params[name]
    good = ok(value)
    if not bool(good.all()):
        bad = value[~good].flatten()[0]
        got = f"{float(bad):g}" if bad.is_floating_point() else str(int(bad))
        raise ValueError(f"{name} must be {what}, got {got}")


def params_to_json(params: Params) -> dict[str, list]:
    """Params -> plain lists (JSON-serialisable).

    Integer tensors stay integers; floats go through float64, which keeps float32 values exact.
    """
    return {k: (v.detach().cpu().tolist() if not v.is_floating_point()
                else v.detach().cpu().double().tolist()) for k, v in params.items()}


def _all_ints(value: object) -> bool:
    if isinstance(value, list):
        return all(_all_ints(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def params_from_json(data: dict[str, list], device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> Params:
    """The inverse of :func:`params_to_json`: integer lists come back as int64 tensors."""
    out: Params = {}
    for k, v in data.items():
        is_int = isinstance(v, list) and len(v) > 0 and _all_ints(v)
        out[k] = torch.tensor(v, dtype=torch.int64 if is_int else dtype, device=device)
    return out
