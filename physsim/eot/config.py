"""The ``eot:`` section of a scene file: strict schema, names resolved, every range checked.

The shape is documented in :mod:`physsim.eot.pipeline`. Validation goes through pydantic; the
transform list is resolved against the registered transforms, and an error there is a
:class:`~physsim.errors.UserError` naming the item, e.g.
``eot.transforms[0].pose.distance_m: must be > 0, got [-1, 3]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, model_validator

from physsim.eot.base import BackgroundTransform, Camera, GeometricTransform, Transform
from physsim.eot.ranges import describe
from physsim.errors import UserError
from physsim.options import Options

#: The default physical pipeline: a sign on a roadside seen by a phone or dashboard camera.
DEFAULT_TRANSFORMS: tuple[dict[str, Any], ...] = (
    {"pose": {"distance_m": [1.5, 12.0], "yaw_deg": [-45, 45], "pitch_deg": [-10, 10],
              "roll_deg": [-8, 8], "offset": [-0.2, 0.2]}},
    {"crop": {"margin": [0.05, 0.25], "jitter": 0.05}},
    {"printer": {"profile": "default"}},
    {"lighting": {"exposure_stops": [-1, 1], "contrast": [0.8, 1.2], "gamma": [0.85, 1.15],
                  "kelvin": [3500, 7500], "shadow": [0.0, 0.4]}},
    {"background": {"kind": "procedural"}},
    {"defocus": {"sigma_px": [0.0, 1.0]}},
    {"motion_blur": {"length_px": [0, 3]}},
    {"sensor_noise": {"poisson_scale": [0, 0.01], "gaussian_std": [0, 0.02]}},
    {"jpeg": {"quality": [40, 95]}},
)


@dataclass(frozen=True)
class Step:
    """One resolved item of the transform list.

    Attributes:
        label: the key of its params: the registered name, or ``name_2``, ``name_3`` ... for
            repeats of a name.
        transform: the transform, options validated.
    """

    label: str
    transform: Transform


class CameraConfig(Options):
    """A pinhole camera: horizontal field of view *or* focal length in pixels; resolution."""

    fov_deg: float | None = Field(None, gt=0, lt=180)
    focal_px: float | None = Field(None, gt=0)
    resolution: tuple[int, int] = (1920, 1080)

    @model_validator(mode="after")
    def _one_focal(self) -> CameraConfig:
        if self.fov_deg is not None and self.focal_px is not None:
            raise ValueError("give fov_deg or focal_px, not both")
        if min(self.resolution) < 1:
            raise ValueError(f"resolution must be positive, got {list(self.resolution)}")
        return self

    def camera(self) -> Camera:
        if self.focal_px is not None:
            return Camera(self.focal_px, self.resolution)
        return Camera.from_fov(50.0 if self.fov_deg is None else self.fov_deg, self.resolution)


def _resolve(item: Any, at: str) -> tuple[str, Transform]:
    from physsim.plugins import lookup

    if not isinstance(item, Mapping) or len(item) != 1:
        raise UserError(f"expected one {{name: options}} mapping, got {item!r}", at)
    ((name, opts),) = item.items()
    cls = lookup("transform", str(name), at)
    if opts is not None and not isinstance(opts, Mapping):
        raise UserError(f"options must be a mapping, got {opts!r}", f"{at}.{name}")
    try:
        options = cls.Options.model_validate(dict(opts or {}))
    except ValidationError as exc:
        raise UserError(describe(exc, f"{at}.{name}")) from None
    return str(name), cls(options)


def build_steps(items: tuple[Any, ...], where: str) -> tuple[Step, ...]:
    """Resolve the transform list; check that geometric steps follow one another sensibly."""
    steps: list[Step] = []
    seen: dict[str, int] = {}
    frame, backgrounds = "texture", 0
    for i, item in enumerate(items):
        at = f"{where}.transforms[{i}]"
        name, t = _resolve(item, at)
        if isinstance(t, GeometricTransform):
            if frame not in t.accepts:
                raise UserError(f"cannot follow a step that produces the {frame} frame "
                                f"(accepts: {', '.join(t.accepts)})", f"{at}.{name}")
            frame = t.produces
        if isinstance(t, BackgroundTransform):
            backgrounds += 1
            if backgrounds > 1:
                raise UserError("only one background per pipeline", f"{at}.{name}")
        seen[name] = seen.get(name, 0) + 1
        steps.append(Step(name if seen[name] == 1 else f"{name}_{seen[name]}", t))
    return tuple(steps)


class EOTConfig(Options):
    """The ``eot:`` section. See :mod:`physsim.eot.pipeline` for the meaning of each key.

    Validate with ``EOTConfig.model_validate(data)`` (pass ``context={"where": "..."}`` to
    change the ``eot`` prefix of error messages). Problems in ``transforms`` raise
    :class:`UserError`; the other keys raise pydantic's ``ValidationError`` (or use
    :meth:`parse`, which turns every problem into one ``UserError`` line).
    """

    samples: int = Field(32, ge=1)
    chunk: int | None = Field(None, ge=1)
    camera: CameraConfig = CameraConfig.model_validate({})
    prefilter: bool = True
    transforms: tuple[Any, ...] = DEFAULT_TRANSFORMS
    _steps: tuple[Step, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _resolve_transforms(self, info: ValidationInfo) -> EOTConfig:
        where = (info.context or {}).get("where", "eot")
        self._steps = build_steps(self.transforms, where)
        return self

    @property
    def steps(self) -> tuple[Step, ...]:
        """The resolved transforms, in order."""
        return self._steps

    @classmethod
    def parse(cls, data: Mapping[str, Any] | EOTConfig | None, where: str = "eot") -> EOTConfig:
        """Validate ``data`` (None = all defaults); every problem is one :class:`UserError`."""
        if isinstance(data, EOTConfig):
            return data
        if data is not None and not isinstance(data, Mapping):
            raise UserError(f"expected a mapping, got {data!r}", where)
        try:
            return cls.model_validate(dict(data or {}), context={"where": where})
        except ValidationError as exc:
            raise UserError(describe(exc, where)) from None
