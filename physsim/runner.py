"""From a validated scene to a finished run directory: build, attack, evaluate, report.

``run_scene`` is what ``physsim run`` calls; ``load_scene``, ``build_scenario``,
``physsim.evaluate.evaluate_scenario`` and ``physsim.report.write_report`` are the same steps
as a Python API. Data flows
forward as values; nothing collects state along the way.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from physsim import rundir
from physsim.attack import Attack, AttackResult, Budget, Goal
from physsim.classifier import Classifier
from physsim.device import resolve_device
from physsim.eot.pipeline import EOTConfig, Pipeline
from physsim.errors import UserError
from physsim.masks import make_mask
from physsim.objective import ClassifierObjective
from physsim.objects import ObjectTexture
from physsim.scene import AttackSpec, Scene, load_scene


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs, built and checked before any work starts."""

    scene: Scene
    source: str
    device: torch.device
    seed: int
    classifier: Classifier
    attacks: tuple[tuple[AttackSpec, Attack], ...]
    obj: ObjectTexture | None = None
    mask: torch.Tensor | None = None
    pipeline: Any = None
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    patch: Any = None  # physsim.patch.PatchRenderer for patch scenes
    defenses: tuple[Any, ...] = ()  # physsim.defense_eval.BuiltDefense, checked at build time


@dataclass
class RunResult:
    """What a run produced: the artefact, the attack's record and the metrics."""

    metrics: dict[str, Any]
    artefact: torch.Tensor | None = None
    attack_results: list[AttackResult] = field(default_factory=list)
    renders: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)


def class_index(classifier: Classifier, target: str | int, where: str) -> int:
    """A class name or index -> index into the classifier's labels."""
    if isinstance(target, int):
        if not 0 <= target < classifier.num_classes:
            raise UserError(f"class index {target} out of range 0..{classifier.num_classes - 1}",
                            where)
        return target
    if target not in classifier.labels:
        raise UserError(f"unknown class {target!r} (classes: {', '.join(classifier.labels)})",
                        where)
    return classifier.labels.index(target)


def with_steps(scene: Scene, steps: int | None) -> Scene:
    """The scene with every attack's ``budget.steps`` set to ``steps`` (None: unchanged), which
    is what ``budget_of(spec, steps)`` applies."""
    if steps is None:
        return scene

    def bump(spec: AttackSpec) -> AttackSpec:
        return spec.model_copy(update={"budget": spec.budget.model_copy(update={"steps": steps})})

    if scene.attack is not None:
        return scene.model_copy(update={"attack": bump(scene.attack)})
    if scene.sweep is not None:
        sweep = scene.sweep.model_copy(update={"attacks": [bump(a) for a in scene.sweep.attacks]})
        return scene.model_copy(update={"sweep": sweep})
    return scene


def budget_of(spec: AttackSpec, steps: int | None = None, eps: float | None = None) -> Budget:
    b = spec.budget
    return Budget(norm=b.norm, eps=b.eps if eps is None else eps,
                  steps=steps or b.steps, step_size=b.step_size)


def _build_object(scene: Scene, device: torch.device) -> tuple[ObjectTexture, torch.Tensor]:
    from physsim.plugins import lookup

    assert scene.object is not None
    obj = lookup("object", scene.object.name, "object.name")(scene.object.options).load()
    mask = obj.mask.to(device).unsqueeze(0)
    if scene.object.mask is not None:
        h, w = obj.mask.shape[-2:]
        region = make_mask(scene.object.mask, (h, w))
        mask = mask * region.to(device).unsqueeze(0)
    return replace(obj, texture=obj.texture.to(device), mask=obj.mask.to(device)), mask


def _build_patch(scene: Scene, classifier: Classifier, device: torch.device) -> Any:
    from physsim.patch import PatchRenderer, face_area_sizes, shape_mask, square_textures
    from physsim.plugins import lookup

    spec = scene.patch
    assert spec is not None
    objs = [lookup("object", n, f"patch.objects[{i}]")().load()
            for i, n in enumerate(spec.objects)]
    labels = [class_index(classifier, o.label, f"patch.objects[{i}].label")
              for i, o in enumerate(objs)]
    textures = square_textures([o.texture for o in objs], spec.texture_px).to(device)
    sides = torch.tensor([max(o.size_mm) for o in objs], device=device)
    pipe = Pipeline(EOTConfig.parse(scene.eot), output_size=classifier.input_size,
                    size_mm=(float(sides[0]), float(sides[0])), device=device)
    largest = (float(sides.max()), float(sides.max()))
    pipe.check_reach(largest)  # every object, not only the first, stays in front
    _check_grid(scene, pipe, largest)
    mask = shape_mask(spec.shape, spec.resolution).to(device)
    size = (spec.size if spec.face_area is None
            else face_area_sizes(textures, mask, spec.face_area, spec.scale[1]))
    return PatchRenderer(pipe, textures, sides.view(-1, 1).expand(-1, 2), mask, size,
                         spec.scale, spec.position, spec.rotation_deg, labels)


def _check_grid(scene: Scene, pipe: Pipeline, size_mm: tuple[float, float]) -> None:
    """The evaluation grid's distances and yaws keep the object in front of the camera:
    checked before the attack, whose work an error at evaluation would waste."""
    grid = scene.evaluation.grid
    if not any(s.label == "pose" for s in pipe.steps):
        raise UserError("the grid gives pose.distance_m and pose.yaw_deg: the eot: section "
                        "needs a pose step", "evaluation.grid")
    pipe.check_reach(size_mm, list(grid.distance_m), list(grid.yaw_deg), "evaluation.grid")


def build_scenario(scene: Scene, source: str = "<scene>", *, seed: int | None = None,
                   device: str | None = None) -> Scenario:
    """Resolve every name, load the classifier and object, build the EOT pipeline."""
    from physsim.plugins import lookup

    dev = resolve_device(device or scene.device)
    clf_cls = lookup("classifier", scene.classifier.name, "classifier.name")
    classifier = clf_cls.create(scene.classifier.options).to(dev)
    specs = [scene.attack] if scene.attack else list(scene.sweep.attacks if scene.sweep else [])
    fields = ["attack"] if scene.attack else [f"sweep.attacks[{i}]" for i in range(len(specs))]
    attacks = tuple((s, lookup("attack", s.name, f"{f}.name")(s.options))
                    for s, f in zip(specs, fields, strict=True))
    sweep_eps = scene.sweep.eps if scene.sweep is not None and scene.sweep.eps else [None]
    for (spec, attack), at in zip(attacks, fields, strict=True):
        try:
            attack.check_request(budget_of(spec).norm, spec.mode)
            for eps in sweep_eps:  # each budget the attack will be run at
                attack.check_budget(budget_of(spec, eps=eps))
        except UserError as exc:  # before any attack of a sweep has run
            raise UserError(str(exc), at) from None
        if spec.target is not None:
            class_index(classifier, spec.target, f"{at}.target")
    from physsim.defense_eval import build_defenses

    base = Scenario(scene, source, dev, scene.seed if seed is None else seed, classifier, attacks,
                    defenses=build_defenses(scene, classifier))
    if scene.object is not None:
        obj, mask = _build_object(scene, dev)
        label = class_index(classifier, obj.label, "object.label")
        target = scene.attack.target if scene.attack is not None else None
        if target is not None and class_index(classifier, target, "attack.target") == label:
            raise UserError(f"the target {target!r} is the object's own class: a targeted "
                            "attack would succeed without changing anything", "attack.target")
        pipe = Pipeline(EOTConfig.parse(scene.eot), output_size=classifier.input_size,
                        size_mm=obj.size_mm, alpha=obj.texture[3:], device=dev)
        _check_grid(scene, pipe, obj.size_mm)
        return replace(base, obj=obj, mask=mask, pipeline=pipe)
    if scene.patch is not None:
        return replace(base, patch=_build_patch(scene, classifier, dev))
    return _with_data(base, clf_cls)


def _with_data(base: Scenario, clf_cls: Any) -> Scenario:
    """A digital scene: held-out images; with ``eot``, a pipeline to print and photograph them."""
    scene, dev = base.scene, base.device
    assert scene.data is not None
    heldout = getattr(clf_cls, "heldout", None)
    if heldout is None:
        raise UserError(f"classifier {clf_cls.name!r} has no held-out data for a digital scene",
                        "data")
    images, labels, _bins = heldout(scene.data.n, scene.data.seed, dev)
    pipe = None
    if scene.eot is not None:  # print and photograph the images (Kurakin et al. 2016)
        side = scene.data.print_size_mm
        pipe = Pipeline(EOTConfig.parse(scene.eot), output_size=base.classifier.input_size,
                        size_mm=(side, side * images.shape[-2] / images.shape[-1]), device=dev)
    return replace(base, images=images, labels=labels, pipeline=pipe)


def goal_for(sc: Scenario, spec: AttackSpec, labels: torch.Tensor,
             clean_logits: torch.Tensor | None = None) -> Goal:
    """The attack's goal; least-likely targets come from ``clean_logits`` when given."""
    targets = None
    if spec.target is not None:
        t = class_index(sc.classifier, spec.target, "attack.target")
        targets = torch.full_like(labels, t)
    elif spec.mode == "least_likely" and clean_logits is not None:
        targets = clean_logits.argmin(-1)
    return Goal(spec.mode, labels, targets)


def attack_object(sc: Scenario, steps: int | None = None,
                  callback: Callable[[int, torch.Tensor, torch.Tensor], bool | None] | None = None,
                  ) -> AttackResult:
    """Optimise the object's texture through the EOT pipeline (the physical attack)."""
    assert sc.obj is not None and sc.pipeline is not None
    spec, attack = sc.attacks[0]
    objective = ClassifierObjective(
        sc.classifier, sc.classifier.num_classes, renderer=sc.pipeline,
        samples=sc.pipeline.samples, chunk=sc.pipeline.chunk,
        generator=torch.Generator(device=sc.device).manual_seed(sc.seed),
    )
    x0 = sc.obj.texture[:3].unsqueeze(0)
    label = torch.tensor([class_index(sc.classifier, sc.obj.label, "object.label")],
                         device=sc.device)
    gen = torch.Generator(device=sc.device).manual_seed(sc.seed)
    return attack.run(objective, x0, goal_for(sc, spec, label), budget_of(spec, steps),
                      mask=sc.mask, generator=gen, callback=callback, early_stop=spec.early_stop)


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM; its checkpoint is in ``partial``."""

    def __init__(self, run_dir: Path, partial: Path) -> None:
        super().__init__(f"interrupted; the checkpoint is in {partial}")
        self.run_dir = run_dir
        self.partial = partial


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a kill leaves a checkpoint, like Ctrl-C


def run_scene(scene: str | Path, *, output: Path | None = None, seed: int | None = None,
              device: str | None = None, steps: int | None = None,
              resume: Path | None = None) -> Path:
    """Load, build, run and report one scene; returns the finished run directory.

    The run's directory is created as ``<dir>.partial`` at the start, holding the scene as
    run and, for resumable attacks, a checkpoint; finished files are written at the end and
    the directory renamed. ``resume`` (a run directory or its ``.partial``) finishes an
    interrupted run with the same result as an uninterrupted one.
    """
    if resume is not None:
        run_dir, work, info = rundir.reopen(resume)
        parsed, _ = load_scene(work / "scene.yaml")
        path, steps = Path(info["scene_file"]), info["steps"]
        sc = _build(parsed, path, work / "scene.yaml", None, None)
        changed = _changed_inputs(info.get("eot_inputs"), eot_inputs(sc))
        if changed:
            raise UserError(f"the files the EOT step {changed!r} reads are not those the run "
                            "began with (their contents or order changed): resuming would "
                            "mix two sets (start the run again)", str(run_dir))
    else:
        parsed, path = load_scene(scene)
        parsed = with_steps(parsed, steps)  # recorded in scene.yaml: the file repeats the run
        sc = _build(parsed, path, path, seed, device)
        run_dir = output or rundir.default_run_dir(parsed.name)
        work = rundir.start(run_dir)
        rundir.write_scene(work, sc.scene, sc.seed, str(sc.device))
        rundir.write_json(work / rundir.RESUME_INFO, {"scene_file": str(path), "steps": steps,
                                                      "eot_inputs": eot_inputs(sc)})
    return _execute(sc, run_dir, work, path, steps)


def _changed_inputs(before: Any, now: dict[str, Any]) -> str | None:
    """The first step whose files' fingerprints (``images_id``, ``sha256``) differ between a
    resume record's ``eot_inputs`` and now; None when they agree or none were recorded. Paths
    are not compared: moved or renamed files with the same contents are the same inputs."""
    if not isinstance(before, dict):
        return None

    def prints(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {label: {k: v for k, v in d.items() if k in ("images_id", "sha256")}
                for label, d in inputs.items() if isinstance(d, dict)}

    old, new = prints(before), prints(now)
    return next((label for label in sorted(old.keys() | new.keys())
                 if old.get(label) != new.get(label)), None)


def eot_inputs(sc: Scenario) -> dict[str, Any]:
    """The files the scenario's EOT steps read (:meth:`Pipeline.inputs`), as JSON has them."""
    pipe = sc.pipeline if sc.pipeline is not None else getattr(sc.patch, "pipeline", None)
    return json.loads(json.dumps(pipe.inputs())) if pipe is not None else {}


def _build(scene: Scene, source: Path, where: Path, seed: int | None,
           device: str | None) -> Scenario:
    """:func:`build_scenario` of the scene read from ``where``: its errors (a bad option, an
    unknown class...) name that file, and a bad device names where the device came from."""
    dev = resolve_device(device, "--device") if device is not None else \
        resolve_device(scene.device, f"{where}: device")
    try:
        return build_scenario(scene, str(source), seed=seed, device=str(dev))
    except UserError as exc:
        raise UserError(str(exc), str(where)) from None


def _execute(sc: Scenario, run_dir: Path, work: Path, path: Path, steps: int | None) -> Path:
    from physsim.checkpoint import CheckpointStore
    from physsim.evaluate import evaluate_scenario
    from physsim.plugins import pm
    from physsim.report import write_report

    store = CheckpointStore(work / "checkpoint.pt")
    for _, attack in sc.attacks:
        attack.checkpoints = store if attack.resumable else None
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    start = time.perf_counter()
    try:
        pm.hook.on_run_start(scenario=sc)
        result = evaluate_scenario(sc, steps=steps)
        result.metrics["seconds"] = round(time.perf_counter() - start, 2)
        pm.hook.on_run_end(scenario=sc, result=result)
        # a kill while the report is written leaves a checkpoint too: a resume writes it anew
        write_report(work, sc, result, path)
    except KeyboardInterrupt:
        store.flush()
        raise Interrupted(run_dir, work) from None
    except UserError as exc:
        # a problem only found as the work ran (an attack's own check of its budget, a file
        # an option names): named after the scene file; a run that saved no progress leaves
        # nothing behind to block the next one, one that did keeps it for a resume
        store.flush()
        if store.path.is_file():
            raise UserError(f"{exc} (the run's progress stays in {work}; remove it to start "
                            f"again)", str(path)) from None
        rundir.abandon(run_dir)
        raise UserError(str(exc), str(path)) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    store.remove()
    (work / rundir.RESUME_INFO).unlink()
    return rundir.finish(run_dir)
