"""The core's own built-in plugin: the scene files that ship with physsim.

Attacks, classifiers, objects and defenses live in the plugin packages under ``plugins/``;
the EOT transforms register from :mod:`physsim.eot.plugin`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from physsim.hookspecs import hookimpl


def builtin_scene_dir() -> Path:
    """Where the built-in scene files are (``scenes/`` in a checkout, installed as a package)."""
    return Path(str(files("physsim_scenes")))


@hookimpl
def register_scenes(register: Callable[[str, Path], None]) -> None:
    for path in sorted(builtin_scene_dir().glob("*.yaml")):
        register(path.stem, path)
