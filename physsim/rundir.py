"""Run directories: created fresh, written under a ``.partial`` name, renamed when complete.

A run directory is never overwritten. While a run works, ``<dir>.partial`` holds the scene as
run and the attack's checkpoint; the finished files are written at the end and the directory
gets its final name only then, so an interrupted run leaves nothing that looks complete, and
``physsim run --resume DIR`` can finish it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from physsim import __version__
from physsim.errors import UserError
from physsim.outputs import write_atomic
from physsim.outputs import write_json as write_json  # run files, atomically


def default_run_dir(scene_name: str, root: Path = Path("runs")) -> Path:
    """``runs/<scene>-<UTC timestamp>``, with a counter if that exists already.

    The scene's name is made a plain folder name (``/``, spaces and other characters become
    ``_``; no leading dot), so a name such as ``../x`` cannot put the run outside ``root``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", scene_name).lstrip(".") or "scene"
    base = root / f"{safe}-{stamp}"
    path, i = base, 1
    while path.exists() or partial(path).exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def partial(run_dir: Path) -> Path:
    """Where the files of an unfinished run live."""
    return run_dir.with_name(run_dir.name + ".partial")


#: what ``--resume`` needs besides the scene: the scene file's path and the steps override
RESUME_INFO = "resume.json"


def check(run_dir: Path) -> None:
    """Refuse a run directory that exists (or is being written by another run)."""
    if run_dir.exists():
        raise UserError("run directory exists already; it is never overwritten", str(run_dir))
    if partial(run_dir).exists():
        raise UserError(f"an unfinished run is here ({partial(run_dir)}); finish it with "
                        f"`physsim run --resume {run_dir}` or remove it", str(run_dir))


def start(run_dir: Path) -> Path:
    """Create ``<run_dir>.partial`` (after :func:`check`), take its lock, and return it."""
    if run_dir.name.endswith(".partial"):
        raise UserError("a run directory's name may not end in .partial, the mark of an "
                        "unfinished run", str(run_dir))
    check(run_dir)
    work = partial(run_dir)
    try:
        work.mkdir(parents=True)
    except OSError as exc:  # a read-only place, a file where a folder should be...
        raise UserError(f"cannot create the run directory ({exc.strerror or exc})",
                        str(run_dir)) from None
    lock(work)
    return work


#: the lock of each ``.partial`` this process works in: (its file, the open descriptor)
_LOCKS: dict[Path, tuple[Path, int]] = {}
LOCK = ".lock"


def lock(work: Path) -> None:
    """Hold an exclusive lock on ``work`` until :func:`finish` (or the process ends): a second
    process resuming the same run is refused instead of redoing it in the same folder."""
    if work.resolve() in _LOCKS:  # this process holds it already
        return
    path = work / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UserError("another physsim process is working on this run; wait for it, or "
                        "stop it and resume", str(work)) from None
    _LOCKS[work.resolve()] = (path, fd)


def finish(run_dir: Path) -> Path:
    """Give the finished run its final name (an atomic rename), and release its lock."""
    work = partial(run_dir)
    held = _LOCKS.pop(work.resolve(), None)
    if held is not None:
        held[0].unlink(missing_ok=True)  # the descriptor keeps the lock until it is closed
    try:
        if run_dir.exists():  # made by someone else while the run worked
            raise OSError(errno.EEXIST, "something else is there now")
        os.replace(work, run_dir)
    except OSError as exc:
        raise UserError(f"cannot give the finished run its name ({exc.strerror or exc}): its "
                        f"files are complete in {work}; move that folder where you want it",
                        str(run_dir)) from None
    finally:
        if held is not None:
            os.close(held[1])
    return run_dir


def abandon(run_dir: Path) -> None:
    """Remove an unfinished run's ``.partial`` (and release its lock): for a run stopped by an
    error before it saved anything worth resuming."""
    work = partial(run_dir)
    held = _LOCKS.pop(work.resolve(), None)
    shutil.rmtree(work, ignore_errors=True)
    if held is not None:
        os.close(held[1])


def reopen(path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """An interrupted run to resume: ``path`` is its directory or its ``.partial``.

    Returns (final run directory, the ``.partial`` directory, the saved resume info), with
    the run's lock taken (:func:`lock`).
    """
    if path.name in ("", ".", ".."):  # "." or "": the name of the folder it stands for
        path = path.resolve()
    if not path.name:
        raise UserError("not a run directory", str(path))
    run_dir = path.with_name(path.name.removesuffix(".partial"))
    work = partial(run_dir)
    if run_dir.exists():
        if (run_dir / "manifest.json").is_file():
            raise UserError("this run is finished already; nothing to resume", str(run_dir))
        raise UserError(f"not a physsim run (no manifest.json), and no interrupted run at "
                        f"{work}", str(run_dir))
    info_path = work / RESUME_INFO
    if not info_path.is_file() or not (work / "scene.yaml").is_file():
        raise UserError(f"no interrupted run here (expected {info_path})", str(path))
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the resume record ({exc})", str(info_path)) from None
    steps = info.get("steps", "missing") if isinstance(info, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("scene_file"), str) or \
            not (steps is None or (type(steps) is int and steps >= 1)):
        raise UserError('not a resume record (expected {"scene_file": "...", "steps": N or '
                        'null})', str(info_path))
    lock(work)
    return run_dir, work, info


def write_scene(work: Path, scene: Any, seed: int, device: str) -> None:
    """The scene as run (with the seed and device actually used) as ``scene.yaml``."""
    import yaml

    data = scene.model_dump(mode="json")
    data.update(seed=seed, device=device)
    # whole or not at all: a resume reads it, even after a kill while it is rewritten
    write_atomic(work / "scene.yaml", yaml.safe_dump(data, sort_keys=False).encode())


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def manifest(seed: int, device: str, plugins: dict[str, str]) -> dict[str, Any]:
    """Versions, seed, device and git commit: what is needed to reproduce a run."""
    import kornia
    import torch

    return {
        "physsim": __version__,
        "plugins": plugins,
        "seed": seed,
        "device": device,
        "torch": torch.__version__,
        "kornia": kornia.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
