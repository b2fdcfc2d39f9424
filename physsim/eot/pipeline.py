"""The EOT pipeline: a printed texture on an object -> the window a classifier sees, in batch.

Expectation over Transformation (Athalye et al. 2017, arXiv:1707.07397) over a physical model
of the path from texture to camera image. The scene file's ``eot:`` section::

    eot:
      samples: 32        # EOT samples per attack step
      chunk: 16          # optional: at most this many samples per forward pass
      prefilter: true    # mip-map the texture when the object is small (default true)
      camera: {fov_deg: 50, resolution: [1920, 1080]}   # or {focal_px: 1500, ...}
      transforms:        # ordered; each item {registered_name: options}
        - pose: {distance_m: [1.5, 12.0], yaw_deg: [-45, 45], pitch_deg: [-10, 10],
                 roll_deg: [-8, 8], offset: [-0.2, 0.2]}
        - crop: {margin: [0.05, 0.25], jitter: 0.05}
        - printer: {profile: default}          # or a path to a profile .json
        - lighting: {exposure_stops: [-1, 1], contrast: [0.8, 1.2], gamma: [0.85, 1.15],
                     kelvin: [3500, 7500], shadow: [0.0, 0.4]}
        - background: {kind: procedural}       # or {kind: flat, gray: [0.2, 0.8]}, or
                                               # {kind: image, images: [photos/]}
        - defocus: {sigma_px: [0.0, 1.0]}      # camera pixels
        - motion_blur: {length_px: [0, 3]}     # camera pixels
        - sensor_noise: {poisson_scale: [0, 0.01], gaussian_std: [0, 0.02]}
        - jpeg: {quality: [40, 95]}

A range is ``[low, high]`` (drawn uniformly) or one number (fixed). Omitting ``transforms``
gives the list above; omitting the section gives all defaults.

How the list is read:

- Geometric steps (``pose``, ``crop``) compose, in their order, into one homography per sample
  from texture pixels to window pixels; the texture is resampled once, prefiltered (mip-map) to
  the larger of a window pixel and a camera pixel.
  ``pose`` maps into the camera frame; ``crop`` frames the object's bounding box the way a
  detector would, so only the classifier-sized window is ever rendered. Without a ``crop`` the
  window is the bounding box with a 10 % margin.
- Image steps before ``background`` act on the object alone (what is printed, how it is lit);
  the object is then composited over the background; the steps after act on the whole window
  (what the camera does). Steps with sizes in camera pixels are told the window's scale.

Typical use::

    pipe = Pipeline(EOTConfig.model_validate(cfg), output_size=(32, 32), size_mm=(750, 750))
    params = pipe.sample(32, torch.Generator().manual_seed(0))
    images = pipe.render(texture_rgba, params)        # (B, 32, 3, 32, 32)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from physsim.device import resolve_device
from physsim.eot.base import PX_SCALE, BackgroundTransform, Frame, GeometricTransform, Params
from physsim.eot.camera import NEAR_M, Pose, least_depth, nearest_depth, window_matrix
from physsim.eot.config import EOTConfig, Step
from physsim.eot.params import EOTParams
from physsim.eot.warp import (
    build_pyramid,
    group_levels_parts,
    level_count,
    level_matrices,
    sample_lod,
    uniform_extent,
    warp,
    window_grid,
)
from physsim.errors import UserError

__all__ = ["EOTConfig", "EOTParams", "Pipeline", "Prepared"]

#: The margin of the window when the pipeline has no crop step.
DEFAULT_MARGIN = 0.1


def _sensor_bias(frame: Frame) -> torch.Tensor:
    """log2 of camera pixels' size in window pixels, where it exceeds 1: a window enlarged from
    the camera frame cannot hold detail the sensor did not record."""
    return torch.log2(frame.px_scale.clamp(min=1.0))


def _coverage_grad(alpha: torch.Tensor, matrix: torch.Tensor) -> bool:
    """Whether the windows' alpha depends on a tensor that takes a gradient.

    It is the object's coverage, a function of the texture's alpha and of the geometry
    only: for an RGB texture on the pipeline's constant alpha it never does, and the backward
    pass is then spared the operations that would carry a gradient to it through the
    un-premultiplying and the compositing, which reaches nothing (at K = 8 and 32 px, about
    0.13 ms of a 19 ms EOT step).
    """
    return alpha.requires_grad or matrix.requires_grad


@dataclass(frozen=True)
class Prepared:
    """What rendering n samples needs besides the texture, worked out ahead
    (:meth:`Pipeline.prepare`): render it, or a :meth:`select`-ion of it, as the params
    themselves, with the same images (to float rounding: worked out in a larger batch, an
    elementwise function may round a last bit differently; in this project's checks they
    are bit for bit the same).

    At small windows this part of a render is mostly the fixed cost of small tensor
    operations, not arithmetic, so preparing the samples of many steps in one batch costs
    little more than preparing one step's (see :class:`physsim.objective.ClassifierObjective`).

    Attributes:
        params: the samples' params, on the pipeline's device.
        texture_size: (height, width) of the textures it was prepared for.
        matrix: (n, 3, 3) float64 texture -> window homographies.
        px_scale: (n,) window pixels per camera pixel.
        lod: (n,) the level of detail each sample is drawn at (None without prefiltering).
        grids: (n, h, w, 2) sampling grids by the extent of the pyramid levels they address
            (empty where that extent depends on the levels a batch uses).
        background: (n, 3, h, w) the background step's images (None without one, or when
            the render is to draw them).
        steps: by step label, what its transform prepared (:meth:`Transform.prepare`).
        plan: the samples grouped by pyramid level, as :func:`physsim.eot.warp.warp` takes
            it (None: grouped when rendered).
    """

    params: EOTParams
    texture_size: tuple[int, int]
    matrix: torch.Tensor
    px_scale: torch.Tensor
    lod: torch.Tensor | None
    grids: dict[tuple[float, float], torch.Tensor]
    background: torch.Tensor | None
    steps: dict[str, Params]
    plan: list[tuple[int, torch.Tensor, torch.Tensor]] | None = None

    @property
    def n(self) -> int:
        return self.params.n

    def select(self, index: slice) -> Prepared:
        """The prepared samples ``index``: the same as preparing their params alone (their
        grouping by level is left to the render)."""
        return Prepared(self.params.select(index), self.texture_size, self.matrix[index],
                        self.px_scale[index], None if self.lod is None else self.lod[index],
                        {k: v[index] for k, v in self.grids.items()},
                        None if self.background is None else self.background[index],
                        {label: {k: v[index] for k, v in p.items()}
                         for label, p in self.steps.items()})


class Pipeline:
    """Samples EOT params and renders textures under them (a :class:`physsim.objective.Renderer`).

    Args:
        config: the validated ``eot:`` section, or a mapping to validate.
        output_size: (h, w) of the window, usually the classifier's input size.
        size_mm: physical (width, height) of the texture's full extent, for :meth:`render`.
        alpha: (1, H, W) coverage used for RGB inputs of :meth:`render` (None: opaque).
        device: where params and images live.
        dtype: the floating type of params and images.
        check_reach: refuse pose ranges that may bring the object within reach of the camera
            (:meth:`check_reach`) as the pipeline is built with a size. False where every
            sample's distance is given rather than drawn: given and replayed params are
            checked sample by sample anyway (:meth:`check`).
    """

    def __init__(self, config: EOTConfig | Mapping[str, Any] | None, output_size: tuple[int, int],
                 size_mm: tuple[float, float] | None = None, alpha: torch.Tensor | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 check_reach: bool = True) -> None:
        self.config = EOTConfig.parse(config)
        self.output_size = (int(output_size[0]), int(output_size[1]))
        if min(self.output_size) < 1:
            raise UserError(f"output_size must be positive, got {output_size}", "EOT pipeline")
        if size_mm is not None and (len(size_mm) != 2 or
                                    not all(math.isfinite(v) and v > 0 for v in size_mm)):
            raise UserError(f"size_mm must be a positive (width, height), got {size_mm}",
                            "EOT pipeline")
        self.size_mm = size_mm
        # a torch.device("cpu", 0) is the CPU too; any other name is checked as a scene's is
        cpu = isinstance(device, torch.device) and device.type == "cpu"
        self.device = resolve_device("cpu" if cpu else str(device), "EOT pipeline")
        self.dtype = dtype
        if alpha is not None and (alpha.ndim != 3 or alpha.shape[0] != 1
                                  or not alpha.is_floating_point()
                                  or not bool(((alpha >= 0) & (alpha <= 1)).all())):
            raise UserError(f"alpha must be a (1, H, W) float tensor in [0, 1], got "
                            f"{tuple(alpha.shape)} {alpha.dtype}", "EOT pipeline")
        self.alpha = None if alpha is None else alpha.to(self.device, dtype)
        # the pyramid of the constant alpha, for the alpha tensor and texture size it was built
        self._alpha_cache: tuple[torch.Tensor | None, tuple[int, int],
                                 dict[int, torch.Tensor]] | None = None
        self.camera = self.config.camera.camera()
        self.steps: tuple[Step, ...] = self.config.steps
        bg = [i for i, s in enumerate(self.steps) if isinstance(s.transform, BackgroundTransform)]
        self._split = bg[0] if bg else 0
        # the pose step whose params the near-camera checks read (a subclass of Pose with
        # options of its own is left to check its own params)
        self._pose = next(((i, s) for i, s in enumerate(self.steps)
                           if isinstance(s.transform, Pose)
                           and isinstance(s.transform.options, Pose.Options)), None)
        if size_mm is not None and check_reach:
            self.check_reach()

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, **kwargs: Any) -> Pipeline:
        """Validate the ``eot:`` mapping (one :class:`UserError` line if bad) and build."""
        return cls(EOTConfig.parse(data), **kwargs)

    @property
    def samples(self) -> int:
        return self.config.samples

    @property
    def chunk(self) -> int | None:
        return self.config.chunk

    # sampling ---------------------------------------------------------------------------

    def sample(self, n: int, generator: torch.Generator,
               fixed: Mapping[str, float | torch.Tensor] | None = None,
               where: str = "fixed") -> EOTParams:
        """Draw params of n samples; ``fixed`` overrides some by dotted name.

        Args:
            n: number of samples.
            generator: drives every draw, step after step (same seed, same params).
            fixed: e.g. ``{"pose.distance_m": 4.5, "pose.yaw_deg": torch.tensor([...])}``;
                each value is a number, a tensor broadcastable to the param's shape, or n
                values, one per sample (also for a param with several entries per sample,
                such as ``printer.ink_gain``: each sample's entries all take its value). The
                draws happen anyway, so the other params do not change.
            where: what ``fixed`` came from, for errors (e.g. a command-line option).

        Given values are checked as replayed params are (:meth:`check`).
        """
        try:  # (a numpy or 0-d tensor integer will do, not a bool or a float)
            count = None if isinstance(n, bool) else operator.index(n)
        except TypeError:
            count = None
        if count is None or count < 1:
            raise UserError(f"the number of samples must be a positive whole number, got {n!r}",
                            where)
        n = count
        values = {s.label: s.transform.sample(n, generator) for s in self.steps}
        params = EOTParams(values, n).to(self.device, self.dtype)
        for key, value in (fixed or {}).items():
            label, _, name = key.partition(".")
            if label not in params.values or name not in params.values[label]:
                names = ", ".join(sorted(params.flat()))
                raise UserError(f"unknown EOT parameter {key!r} (available: {names})", where)
            old = params.values[label][name]
            try:
                new = torch.as_tensor(value, device=self.device)
            except (TypeError, ValueError, RuntimeError):
                new = None
            if new is None or new.dtype == torch.bool or new.is_complex():
                raise UserError(f"{key} takes numbers, got {value!r}", where)
            if new.ndim == 1 and old.ndim > 1 and len(new) == n:  # one value per sample
                new = new.view(n, *[1] * (old.ndim - 1))
            if not old.is_floating_point() and bool(
                    ((new != new.round()) | (new.double().abs() >= 2.0**62)).any()):
                raise UserError(f"{key} takes whole numbers (of less than 19 digits)", where)
            try:
                params.values[label][name] = new.to(old.dtype).expand_as(old).clone()
            except RuntimeError:
                raise UserError(f"{key} must be one value or {n} (one per sample) of shape "
                                f"{tuple(old.shape[1:])}, got shape {tuple(new.shape)}",
                                where) from None
        # given values may be impossible (a negative distance...): checked as replayed ones
        return self.check(params, where) if fixed else params

    def check_reach(self, size_mm: tuple[float, float] | None = None,
                    distances: list[float] | None = None, yaws: list[float] | None = None,
                    where: str | None = None) -> None:
        """UserError if a pose the pose step can draw may bring some point of the object
        within :data:`NEAR_M` of the camera or behind it (a bound over the whole ranges: see
        :func:`least_depth`). Pipelines check their own ranges when built with a size.

        Args:
            size_mm: the object's (width, height), if not the pipeline's (e.g. the largest of
                several objects).
            distances, yaws: values that replace the pose's distance and yaw ranges (an
                evaluation grid).
            where: names the field for the error (default: the pose's ``distance_m``).
        """
        size = size_mm or self.size_mm
        if self._pose is None or size is None:
            return
        i, step = self._pose
        assert isinstance(step.transform.options, Pose.Options)
        o = step.transform.options
        d = min(distances) if distances else o.distance_m[0]
        yaw = max(abs(v) for v in yaws) if yaws else max(abs(v) for v in o.yaw_deg)
        pitch, offset = max(abs(v) for v in o.pitch_deg), max(abs(v) for v in o.offset)
        depth = least_depth(self.camera, size, d, yaw, pitch, offset)
        if depth > NEAR_M:
            return
        # the nearest distance that passes, in whole centimetres: from where the bound's
        # steeper part would reach the limit (it grows with the distance), upwards
        slope = least_depth(self.camera, size, d + 1, yaw, pitch, offset) - depth
        need = max(math.ceil(d * 100), math.floor((d + (NEAR_M - depth) / slope) * 100)) / 100
        while least_depth(self.camera, size, need, yaw, pitch, offset) <= NEAR_M:
            need = round(need + 0.01, 2)
        raise UserError(
            f"at {d:g} m, turned up to {yaw:g} degrees of yaw and {pitch:g} of pitch, the "
            f"{size[0]:g} x {size[1]:g} mm object could come within {NEAR_M * 100:g} cm of the "
            f"camera or pass behind it: for these angles, keep it at least {need:g} m away",
            where or f"eot.transforms[{i}].{step.label}.distance_m")

    def _check_near(self, params: EOTParams, where: str,
                    size_mm: torch.Tensor | None = None) -> None:
        """UserError naming the first sample of ``params`` whose pose brings a corner of the
        object within :data:`NEAR_M` of the camera or behind it (``size_mm``: (n, 2), one
        object per sample; default: the pipeline's)."""
        if self._pose is None or (size_mm is None and self.size_mm is None):
            return
        label = self._pose[1].label
        pose = params[label]
        names = ("distance_m", "yaw_deg", "pitch_deg", "roll_deg", "offset_x", "offset_y")
        if not all(k in pose for k in names):
            return
        sizes = torch.as_tensor(self.size_mm if size_mm is None else size_mm,
                                dtype=torch.float64).expand(params.n, 2)
        near = nearest_depth(self.camera, sizes, pose) <= NEAR_M
        if not bool(near.any()):
            return
        j = int(near.nonzero()[0, 0])
        what = ", ".join(f"{k} {float(pose[k][j]):g}" for k in names)
        w, h = sizes[j].tolist()
        raise UserError(f"sample {j} ({what}) puts the {w:g} x {h:g} mm object within "
                        f"{NEAR_M * 100:g} cm of the camera or behind it", f"{where}: {label}")

    def select(self, params: EOTParams | Prepared, index: slice) -> EOTParams | Prepared:
        """The params (or prepared params) of samples ``index`` (for chunked evaluation)."""
        return params.select(index)

    def check(self, params: EOTParams, where: str = "EOT params") -> EOTParams:
        """Replayed params on this pipeline's device and dtype.

        :class:`UserError` (naming ``where``, e.g. the file, and the param) if they were made
        for another pipeline, lack or add a param, have a param of another shape or kind, hold
        a value that is not finite, or one the transform calls impossible
        (:meth:`Transform.check_params`).
        """
        want = [s.label for s in self.steps]
        if list(params.values) != want:
            raise UserError(f"params are for the steps {list(params.values)}, this pipeline "
                            f"has {want}", where)
        params = params.to(self.device, self.dtype)
        gen = torch.Generator(device=self.device).manual_seed(0)
        for step in self.steps:
            given, model = params[step.label], step.transform.sample(1, gen)
            missing, extra = sorted(model.keys() - given.keys()), sorted(given.keys() - model)
            if missing or extra:
                what = ", ".join(
                    f"{word} {', '.join(f'{step.label}.{k}' for k in keys)}"
                    for word, keys in (("unknown", extra), ("missing", missing)) if keys)
                raise UserError(f"{what} (the {step.label!r} step has "
                                f"{', '.join(sorted(model))})", where)
            for k, ref in model.items():
                v = given[k]
                if v.dtype == torch.bool:  # (a tensor given in Python; JSON is checked on reading)
                    raise UserError(f"{step.label}.{k} must be numbers, not true or false", where)
                if ref.is_floating_point() and not v.is_floating_point():
                    v = given[k] = v.to(self.dtype)  # whole numbers written without a point
                if v.shape[1:] != ref.shape[1:] or v.is_floating_point() != ref.is_floating_point():
                    kind = "float" if ref.is_floating_point() else "integer"
                    shape = ", ".join(["n", *map(str, ref.shape[1:])])
                    got = "float" if v.is_floating_point() else "integer"
                    raise UserError(f"{step.label}.{k} must be {kind} values of shape ({shape}), "
                                    f"got {got} values of shape {tuple(v.shape)}", where)
                if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                    raise UserError(f"{step.label}.{k} must be finite", where)
            try:
                step.transform.check_params(given)
            except ValueError as exc:
                raise UserError(f"{step.label}.{exc}", where) from None
        self._check_near(params, where)
        return params

    # geometry ---------------------------------------------------------------------------

    def frame(self, params: EOTParams, texture_size: tuple[int, int],
              size_mm: torch.Tensor) -> Frame:
        """The composed texture -> window map of every sample (size_mm: (n, 2))."""
        frame = Frame.texture(texture_size, size_mm.to(self.device), self.camera)
        for step in self.steps:
            if isinstance(step.transform, GeometricTransform):
                frame = step.transform.compose(frame, params[step.label], self.output_size)
        if frame.name != "window":
            n = params.n
            margin = torch.full((n,), DEFAULT_MARGIN, dtype=torch.float64, device=self.device)
            m, scale = window_matrix(frame, margin, margin.new_zeros(n, 2), self.output_size)
            frame = frame.then(m, "window", self.output_size, frame.px_scale * scale)
        return frame

    def inputs(self) -> dict[str, dict[str, Any]]:
        """The files the steps read, by step label, for a run's manifest: an image
        background's images and fingerprint, a printer profile given by path (with its
        sha256)."""
        from physsim.eot.background import Background
        from physsim.eot.printer import Printer, profile_file

        out: dict[str, dict[str, Any]] = {}
        for step in self.steps:
            t = step.transform
            if isinstance(t, Background) and t.options.kind == "image":
                out[step.label] = {"images": list(t.bank.files), "images_id": t.bank.id}
            elif isinstance(t, Printer) and (file := profile_file(t.options.profile)):
                out[step.label] = {"profile": str(file[0]), "sha256": file[1]}
        return out

    def render_meta(self, params: EOTParams) -> dict[str, torch.Tensor]:
        """Physical facts per sample for binning results: the pose's params when there is one
        (``distance_m``, ``yaw_deg``...), and ``object_px``: the object's width in camera
        pixels as a fronto-parallel object at that distance would have it."""
        out: dict[str, torch.Tensor] = {}
        for step in self.steps:
            if step.transform.name == "pose":
                out.update(params[step.label])
                if self.size_mm is not None:
                    width_m = self.size_mm[0] / 1000.0
                    out["object_px"] = self.camera.focal_px * width_m / out["distance_m"]
                break
        return out

    # rendering --------------------------------------------------------------------------

    def prepare_many(self, batches: Sequence[EOTParams], texture_size: tuple[int, int]
                     ) -> list[Prepared]:
        """:meth:`prepare` of each batch, worked out as one batch: at small windows this
        costs little more than preparing one, and rendering each batch's part is then faster
        than rendering its params (an attack's objective does this for its next steps)."""
        if not batches:
            return []
        values = {label: {k: torch.cat([b[label][k] for b in batches]) for k in p}
                  for label, p in batches[0].values.items()}
        whole = self._prepare(EOTParams(values, sum(b.n for b in batches)), texture_size,
                              background=False)
        sizes = [b.n for b in batches]
        plans: list[Any] = (
            [None] * len(sizes) if whole.lod is None else
            group_levels_parts(whole.lod, level_count(whole.texture_size), sizes))
        out, start = [], 0
        for n, plan in zip(sizes, plans, strict=True):
            part = whole.select(slice(start, start + n))
            # the backgrounds batch by batch: they cost per sample, not per call, and drawn
            # together their temporaries would take most of the memory preparing takes
            out.append(replace(part, plan=plan, background=self._generate(part.params)))
            start += n
        return out

    def _generate(self, params: EOTParams) -> torch.Tensor | None:
        """The background step's images of ``params`` (None without one)."""
        step = self._background_step()
        return (None if step is None else
                step[1].generate(params[step[0]], self.output_size, self.dtype))

    def prepare(self, params: EOTParams, texture_size: tuple[int, int]) -> Prepared:
        """The texture-independent part of rendering ``params`` for textures of
        ``texture_size`` (height, width): the homographies, levels of detail, sampling grids,
        backgrounds and what the image steps prepare (sensor noise). :meth:`render` takes the
        result, or any :meth:`select`-ion of it, in place of the params and gives the same
        images (see :class:`Prepared`).
        """
        return self._prepare(params, texture_size, background=True)

    def _prepare(self, params: EOTParams, texture_size: tuple[int, int],
                 background: bool) -> Prepared:
        """:meth:`prepare`; ``background=False`` leaves the backgrounds to the render."""
        if self.size_mm is None:
            raise UserError("render needs the object's size: give Pipeline(size_mm=(w, h))",
                            "EOT pipeline")
        size = (int(texture_size[0]), int(texture_size[1]))
        params = self._placed(params)
        n = params.n
        size_mm = torch.tensor(self.size_mm, dtype=torch.float64).expand(n, 2)
        frame = self.frame(params, size, size_mm)
        lod = (sample_lod(frame.matrix, size, _sensor_bias(frame)) if self.config.prefilter
               else None)
        grids = {}
        if (extent := uniform_extent(size)) is not None:
            grids[extent] = window_grid(level_matrices(frame.matrix, extent), self.output_size,
                                        self.dtype)
        scale = frame.px_scale.to(self.dtype)
        steps = {}
        for s in self._image_steps():
            if prepared := s.transform.prepare(self._step_params(s, params, scale, 1),
                                               self.output_size, self.dtype):
                steps[s.label] = prepared
        return Prepared(params, size, frame.matrix, frame.px_scale, lod, grids,
                        self._generate(params) if background else None, steps)

    def render(self, x: torch.Tensor, params: EOTParams | Prepared,
               background: torch.Tensor | None = None) -> torch.Tensor:
        """Every texture under every sample.

        Args:
            x: (B, 4, H, W) straight-alpha RGBA, or (B, 3, H, W) RGB using the pipeline's
                ``alpha``; floating point, values in [0, 1] (checked).
            params: n samples from :meth:`sample` (or :meth:`select`, or replayed JSON), on
                any device (moved to the pipeline's if need be); or the same prepared
                (:meth:`prepare`) for textures of x's size.
            background: optional (n, 3, h, w) images to use instead of the pipeline's
                background step.

        Shape:
            - Output: (B, n, 3, h, w), in [0, 1], differentiable with respect to ``x``.
        """
        if self.size_mm is None:
            raise UserError("render needs the object's size: give Pipeline(size_mm=(w, h))",
                            "EOT pipeline")
        rgb, alpha, alpha_levels = self._colour_alpha(x)
        # one pass over the texture (~0.1 ms at 512 px); NaN fails both comparisons
        lo, hi = torch.aminmax(x.detach())
        if not bool((lo >= 0) & (hi <= 1)):  # one read back, not two
            raise UserError(f"texture values must be in [0, 1], got [{float(lo):g}, "
                            f"{float(hi):g}]", "EOT pipeline")
        size = (x.shape[-2], x.shape[-1])
        if not isinstance(params, Prepared):
            params = self.prepare(params, size)
        elif params.texture_size != size:
            raise UserError(f"these samples were prepared for {params.texture_size[1]} x "
                            f"{params.texture_size[0]} px textures, not {size[1]} x {size[0]}",
                            "EOT pipeline")
        b, n = x.shape[0], params.n
        win = warp(rgb, params.matrix, self.output_size, self.config.prefilter, pairs=False,
                   premultiply=alpha, alpha_levels=alpha_levels, lod=params.lod,
                   grids=params.grids, plan=params.plan)
        if background is None:
            background = params.background
        out = self._finish(win.flatten(0, 1), params.params, params.px_scale, b, background,
                           _coverage_grad(alpha, params.matrix), params.steps)
        return out.view(b, n, 3, *self.output_size)

    def render_pairs(self, textures: torch.Tensor, size_mm: torch.Tensor, params: EOTParams,
                     background: torch.Tensor | None = None) -> torch.Tensor:
        """Texture i under sample i (dataset generation: a different object per sample).

        Args:
            textures: (n, 4, H, W) straight-alpha RGBA, floating point in [0, 1] (the range
                is the caller's to keep: datasets render thousands of textures this way, and
                :class:`physsim.objects.ObjectTexture` checks each object's once).
            size_mm: (n, 2) physical (width, height) of each texture, millimetres.
            params: n samples, on any device (moved to the pipeline's if need be).
            background: optional (n, 3, h, w) images instead of the background step.

        Shape:
            - Output: (n, 3, h, w).
        """
        n = params.n
        if textures.ndim != 4 or textures.shape[:2] != (n, 4):
            raise UserError(f"textures must have shape ({n}, 4, H, W), got "
                            f"{tuple(textures.shape)}", "render_pairs")
        size_mm = torch.as_tensor(size_mm, dtype=torch.float64)
        if size_mm.shape != (n, 2) or not bool(((size_mm > 0) & size_mm.isfinite()).all()):
            raise UserError(f"size_mm must be ({n}, 2) positive millimetres, got "
                            f"{tuple(size_mm.shape)}", "render_pairs")
        rgb, alpha, _ = self._colour_alpha(textures)
        params = self._placed(params)
        # each object's own size: the pipeline's ranges were checked against its size only
        self._check_near(params, "render_pairs", size_mm)
        frame = self.frame(params, (textures.shape[-2], textures.shape[-1]), size_mm)
        win = warp(rgb, frame.matrix, self.output_size, self.config.prefilter, pairs=True,
                   lod_bias=_sensor_bias(frame), premultiply=alpha)
        return self._finish(win, params, frame.px_scale, 1, background,
                            _coverage_grad(alpha, frame.matrix))

    def _placed(self, params: EOTParams) -> EOTParams:
        """``params`` on this pipeline's device: replayed JSON is read onto the CPU by default,
        and a CUDA pipeline's steps cannot mix it with their own tensors. Each step's params
        are drawn (or read) together, so its first tensor tells where they are: a look at a
        few tensors on every render, a copy only when they are elsewhere."""
        want = self.device
        for p in params.values.values():
            dev = next(iter(p.values())).device if p else want
            if dev.type != want.type or (want.index is not None and dev.index != want.index):
                return params.to(want, self.dtype)
        return params

    def _colour_alpha(self, x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor] | None]:
        """(straight colour, alpha, alpha's cached pyramid or None) of RGB(A) textures.

        Colour is premultiplied by alpha inside :func:`warp`, so that it filters and resamples
        without dark fringes at the outline; the pipeline's own alpha is constant and its
        pyramid is built once.
        """
        if x.ndim != 4 or x.shape[1] not in (3, 4) or 0 in x.shape:
            raise UserError(f"expected textures (B, 3 or 4, H, W), none of them empty, got "
                            f"{tuple(x.shape)}", "EOT pipeline")
        if not x.is_floating_point():
            raise UserError(f"textures must be floating point in [0, 1], got {x.dtype}",
                            "EOT pipeline")
        x = x.to(self.device, self.dtype)
        if x.shape[1] == 4:
            return x[:, :3], x[:, 3:], None
        if self.alpha is not None and self.alpha.shape != (1, *x.shape[-2:]):
            raise UserError(f"alpha has shape {tuple(self.alpha.shape)}, the texture "
                            f"{tuple(x.shape)}", "EOT pipeline")
        size = (x.shape[-2], x.shape[-1])
        cache = self._alpha_cache
        if cache is None or cache[0] is not self.alpha or cache[1] != size:
            a = (torch.ones(1, 1, *size, device=self.device, dtype=self.dtype)
                 if self.alpha is None else self.alpha.unsqueeze(0))
            cache = (self.alpha, size,
                     {i: build_pyramid(a, i, i)[i] for i in range(level_count(size))})
            self._alpha_cache = cache
        return x, cache[2][0], cache[2]

    def _finish(self, win: torch.Tensor, params: EOTParams, px_scale: torch.Tensor, reps: int,
                background: torch.Tensor | None, coverage_grad: bool,
                prepared: dict[str, Params] | None = None) -> torch.Tensor:
        """Windows (reps * n, 4, h, w) premultiplied -> (reps * n, 3, h, w) photographs.

        ``coverage_grad``: whether the windows' alpha can carry a gradient; if not, its uses
        (un-premultiplying, compositing) record none. ``prepared``: what the image steps
        prepared, by label.
        """
        rgb, a = win[:, :3], win[:, 3:]
        if not coverage_grad:
            a = a.detach()
        scale = px_scale.to(self.dtype)
        image_steps = [s for s in self.steps if not isinstance(s.transform, GeometricTransform)]
        split = sum(1 for s in self.steps[:self._split]
                    if not isinstance(s.transform, GeometricTransform))
        extra = prepared or {}
        if split:
            colour = rgb / a.clamp(min=1e-6)
            for step in image_steps[:split]:
                colour = step.transform.apply(colour, self._step_params(
                    step, params, scale, reps, extra.get(step.label)))
            rgb = colour * a
        img = torch.addcmul(rgb, 1 - a, self._background(params, background, reps))
        for step in image_steps[split:]:
            if not isinstance(step.transform, BackgroundTransform):
                img = step.transform.apply(img, self._step_params(
                    step, params, scale, reps, extra.get(step.label)))
        return img

    def _image_steps(self) -> list[Step]:
        """The steps whose transforms apply to images (not geometric, not the background)."""
        return [s for s in self.steps
                if not isinstance(s.transform, GeometricTransform | BackgroundTransform)]

    def _step_params(self, step: Step, params: EOTParams, scale: torch.Tensor,
                     reps: int, prepared: Params | None = None) -> Params:
        p = dict(params[step.label])
        if prepared:
            p.update(prepared)
        if step.transform.camera_pixels:
            p[PX_SCALE] = scale
        if reps == 1:
            return p
        # sample s of texture b is row b * n + s: the n params repeat for every texture
        return {k: v.repeat(reps, *([1] * (v.ndim - 1))) for k, v in p.items()}

    def _background(self, params: EOTParams, given: torch.Tensor | None,
                    reps: int) -> torch.Tensor:
        h, w = self.output_size
        n = params.n
        if given is not None:
            if given.shape != (n, 3, h, w):
                raise UserError(f"background must have shape ({n}, 3, {h}, {w}), got "
                                f"{tuple(given.shape)}", "EOT pipeline")
            bg = given.to(self.device, self.dtype)
        else:
            step = self._background_step()
            if step is None:
                return torch.full((1, 3, 1, 1), 0.5, dtype=self.dtype, device=self.device)
            bg = step[1].generate(params[step[0]], (h, w), self.dtype)
        return bg if reps == 1 else bg.repeat(reps, 1, 1, 1)

    def _background_step(self) -> tuple[str, BackgroundTransform] | None:
        """(label, transform) of the background step, if there is one."""
        for step in self.steps:
            if isinstance(step.transform, BackgroundTransform):
                return step.label, step.transform
        return None
