"""Scene files: a strict schema and ``load_scene``.

A scene names its components by registered name (never by import path) and gives their options,
the EOT pipeline in physical units, the evaluation grid, the seed and the device. Everything is
validated before any work starts; a problem is one line naming the file, the field and what was
expected (plus the available names when a name is unknown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from physsim.errors import UnknownNameError, UserError
from physsim.masks import MASKS
from physsim.options import NoBoolNumbers, describe_validation_error

#: Seeds are torch generator seeds: whole numbers from 0 to 2**63 - 1.
SEED_MAX = 2**63 - 1
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]


class Strict(NoBoolNumbers):
    # no infinite or NaN number passes (a range to infinity, an eps of NaN)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ComponentRef(Strict):
    """A registered component and its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class BudgetSpec(Strict):
    norm: Literal["linf", "l2", "l1", "l0"] = "linf"
    eps: float = Field(8 / 255, ge=0)
    steps: int = Field(10, ge=1)
    step_size: float | None = Field(None, gt=0)


class AttackSpec(ComponentRef):
    """The attack, its goal and its budget."""

    mode: Literal["untargeted", "targeted", "least_likely"] = "untargeted"
    target: str | int | None = None
    budget: BudgetSpec = Field(default_factory=BudgetSpec)  # type: ignore[arg-type]
    early_stop: bool = False

    @model_validator(mode="after")
    def _target_matches_mode(self) -> AttackSpec:
        if self.mode == "targeted" and self.target is None:
            raise ValueError("a targeted attack needs `target` (a class name or index)")
        if self.mode != "targeted" and self.target is not None:
            raise ValueError(f"`target` is only used with mode: targeted (mode is {self.mode})")
        return self


class DefenseRef(ComponentRef):
    """A defense; ``fpr`` is the false-positive rate a detector's threshold is calibrated to
    on clean held-out images (ignored by the other kinds)."""

    fpr: float = Field(0.05, gt=0, lt=1)


class ObjectRef(ComponentRef):
    """The object whose texture is attacked; ``mask`` (a name from :mod:`physsim.masks`)
    narrows the object's perturbable region."""

    mask: str | None = None


class DataSpec(Strict):
    """Images for a digital scene: a held-out set drawn from a classifier's domain.

    With an ``eot`` section the scene also prints and photographs every clean and attacked
    image (Kurakin et al. 2016): each becomes a flat print ``print_size_mm`` wide.
    """

    source: Literal["classifier"] = "classifier"
    n: int = Field(200, ge=1)
    seed: Seed = 2024
    print_size_mm: float = Field(150.0, gt=0)


class PatchSpec(Strict):
    """A universal patch put on many objects (Brown et al. 2017)."""

    objects: list[str] = Field(min_length=1, description="registered object names")
    shape: Literal["circle", "square"] = "circle"
    size: float = Field(0.3, gt=0, le=1, description="patch side / object side")
    face_area: float | None = Field(
        None, gt=0, le=1, description="instead of size: the patch's largest area (at the top "
        "of the scale range) as a fraction of each object's face; each object gets its own side")
    scale: tuple[float, float] = (0.9, 1.1)
    position: float = Field(0.25, ge=0, le=1, description="largest centre offset / half-side")
    rotation_deg: tuple[float, float] = (-30.0, 30.0)
    resolution: int = Field(64, ge=4, description="patch pixels per side")
    texture_px: int = Field(128, ge=16, description="object texture side used for rendering")

    @model_validator(mode="after")
    def _ranges(self) -> PatchSpec:
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be 0 < low <= high, got {list(self.scale)}")
        if self.face_area is not None and "size" in self.model_fields_set:
            raise ValueError("give size or face_area, not both")
        return self


class GridSpec(Strict):
    """The evaluation grid, modelled on the RP2 lab protocol."""

    distance_m: list[float] = Field(default_factory=lambda: [1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 12.0],
                                    min_length=1)
    yaw_deg: list[float] = Field(default_factory=lambda: [0.0, 15.0, 30.0, 45.0], min_length=1)
    draws: int = Field(4, ge=1, description="lighting and camera draws per cell")

    @model_validator(mode="after")
    def _physical(self) -> GridSpec:
        from physsim.eot.ranges import FAR_M

        if any(not 0 < d <= FAR_M for d in self.distance_m):
            raise ValueError(f"distance_m values must be > 0 and at most {FAR_M:g}")
        if any(abs(y) >= 90 for y in self.yaw_deg):
            raise ValueError("yaw_deg values must be in (-90, 90): the object would face away")
        return self


class EvaluationSpec(Strict):
    seed: Seed = Field(1000, description="held-out seed, never used for the attack")
    grid: GridSpec = Field(default_factory=GridSpec)  # type: ignore[arg-type]
    random_samples: int = Field(100, ge=0)
    chunk: int = Field(64, ge=1)


class SweepSpec(Strict):
    """Several attacks on the same images (digital scenes), each at every ``eps`` given, or
    at its own budget's eps when ``eps`` is omitted (a catalogue comparison)."""

    eps: list[float] | None = Field(None, min_length=1)
    attacks: list[AttackSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _nonneg(self) -> SweepSpec:
        if any(e < 0 for e in self.eps or []):
            raise ValueError("eps values must be >= 0")
        return self


class Scene(Strict):
    """A whole scene file."""

    name: str
    description: str = ""
    seed: Seed = 0
    device: str = "cpu"
    classifier: ComponentRef
    object: ObjectRef | None = None
    data: DataSpec | None = None
    patch: PatchSpec | None = None
    attack: AttackSpec | None = None
    sweep: SweepSpec | None = None
    eot: dict[str, Any] | None = None
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)  # type: ignore[arg-type]
    defenses: list[DefenseRef] = Field(default_factory=list)
    #: attack each defense without knowing it (false), through it (true), or both, side by side
    adaptive: bool | Literal["both"] = "both"

    @model_validator(mode="after")
    def _shape(self) -> Scene:
        if sum(x is not None for x in (self.object, self.data, self.patch)) != 1:
            raise ValueError("a scene needs exactly one of `object` (physical), `patch` or "
                             "`data` (digital)")
        if (self.attack is None) == (self.sweep is None):
            raise ValueError("a scene needs exactly one of `attack` or `sweep`")
        if (self.object or self.patch) is not None and self.eot is None:
            raise ValueError("a physical scene (`object` or `patch`) needs an `eot` section")
        if self.patch is not None and (self.attack is None or self.attack.mode != "targeted"):
            raise ValueError("a patch scene needs one attack with mode: targeted")
        return self


def resolve_scene_path(scene: str | Path) -> Path:
    """A registered scene name or a path to a YAML file -> the file's path."""
    path = Path(scene)
    from physsim.plugins import get_scenes

    if path.suffix in (".yaml", ".yml") or path.is_file():
        if path.is_dir():
            raise UserError("this is a folder, not a scene file", str(path))
        if not path.is_file():
            raise UserError("scene file not found", str(path))
        return path
    scenes = get_scenes()
    if path.is_dir() and str(scene) not in scenes:  # (a run directory may bear a scene's name)
        raise UserError("this is a folder, not a scene file or a registered scene", str(path))
    if str(scene) not in scenes:
        raise UnknownNameError("scene", str(scene), list(scenes))
    return scenes[str(scene)]


def _check_names(scene: Scene) -> None:
    """Every component name resolves to a registered plugin (before any work starts)."""
    from physsim.plugins import lookup

    lookup("classifier", scene.classifier.name, "classifier.name")
    if scene.object is not None:
        lookup("object", scene.object.name, "object.name")
        if scene.object.mask is not None and scene.object.mask not in MASKS:
            raise UnknownNameError("mask", scene.object.mask, list(MASKS), "object.mask")
    attacks = [scene.attack] if scene.attack else list(scene.sweep.attacks if scene.sweep else [])
    for i, spec in enumerate(attacks):
        lookup("attack", spec.name, "attack.name" if scene.attack else f"sweep.attacks[{i}].name")
    for i, ref in enumerate(scene.defenses):
        lookup("defense", ref.name, f"defenses[{i}].name")
    for i, name in enumerate(scene.patch.objects if scene.patch else []):
        lookup("object", name, f"patch.objects[{i}]")
    if scene.eot is not None:
        from physsim.eot.config import EOTConfig

        EOTConfig.parse(scene.eot, "eot")


def parse_scene(data: Any, where: str) -> Scene:
    """Validate a parsed YAML document; errors name ``where`` (the file) and the field."""
    if not isinstance(data, dict):
        raise UserError("a scene file must be a YAML mapping", where)
    try:
        scene = Scene.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc), where) from None
    try:
        _check_names(scene)
    except UserError as exc:
        raise UserError(str(exc), where) from None
    return scene


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
    silently: a second ``attack:`` at the end of a file would replace the first)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)  # merge keys (<<) first, as the safe loader does
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: Path) -> Any:
    """A YAML file's document; one :class:`UserError` line (with the line number where there is
    one) if it cannot be read, is not UTF-8 text, is not valid YAML or repeats a key."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError("not a UTF-8 text file", str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read the file ({exc.strerror or exc})", str(path)) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a safe loader (SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise UserError(f"not valid YAML ({problem})", f"{path}{line}") from None


def load_scene(scene: str | Path) -> tuple[Scene, Path]:
    """Load and validate a scene by registered name or path. Returns (scene, its path)."""
    path = resolve_scene_path(scene)
    return parse_scene(read_yaml(path), str(path)), path
