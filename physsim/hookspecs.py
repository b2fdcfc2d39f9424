"""The pluggy markers and the hook specifications, nothing else.

Every ``register_<plural>`` hook is called with a ``register`` callback once as its plugin
loads (to check what it registers) and again each time a registry accessor such as
:func:`physsim.plugins.get_attacks` runs. A plugin calls ``register`` once per component.
Registration must stay cheap: register classes, never load weights or render textures here
(that happens when a scene selects the component).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from physsim.attack import Attack
    from physsim.classifier import Classifier
    from physsim.defense import Defense
    from physsim.eot.base import Transform
    from physsim.objects import PhysicalObject

hookspec = pluggy.HookspecMarker("physsim")
hookimpl = pluggy.HookimplMarker("physsim")


@hookspec
def register_attacks(register: Callable[[type[Attack]], None]) -> None:
    """Register attack classes.

    Called each time the attack registry is built. ``register`` accepts a subclass of
    :class:`physsim.attack.Attack` with a unique ``name`` and an ``Options`` schema.
    """


@hookspec
def register_defenses(register: Callable[[type[Defense]], None]) -> None:
    """Register defense classes.

    Called each time the defense registry is built. ``register`` accepts a subclass of
    :class:`physsim.defense.Defense` (an input transformation, a detector or a model
    transformation) with a unique ``name`` and an ``Options`` schema.
    """


@hookspec
def register_classifiers(register: Callable[[type[Classifier]], None]) -> None:
    """Register classifier classes.

    Called each time the classifier registry is built. ``register`` accepts a subclass of
    :class:`physsim.classifier.Classifier` whose ``create(options)`` builds the model; weights
    load then, not at registration.
    """


@hookspec
def register_transforms(register: Callable[[type[Transform]], None]) -> None:
    """Register EOT transforms.

    Called each time the transform registry is built. ``register`` accepts a subclass of
    :class:`physsim.eot.base.Transform` with the ``sample(n, generator)`` /
    ``apply(images, params)`` split.
    """


@hookspec
def register_objects(register: Callable[[type[PhysicalObject]], None]) -> None:
    """Register physical objects: textures with a physical size, a perturbable mask and a label.

    Called each time the object registry is built. ``register`` accepts a subclass of
    :class:`physsim.objects.PhysicalObject` (e.g. a 750 mm stop sign); its texture is rendered
    only when ``load()`` is called.
    """


@hookspec
def register_scenes(register: Callable[[str, Path], None]) -> None:
    """Register scene files by name.

    Called each time the scene registry is built. ``register(name, path)`` takes the name that
    ``physsim run NAME`` accepts and the path of a YAML scene file shipped with the plugin.
    """


@hookspec
def register_commands(register: Callable[[click.Command], None]) -> None:
    """Register extra CLI commands.

    Called when the ``physsim`` command group needs the plugin commands: when it lists its
    commands (``physsim --help``) or when asked for a command that is not built in.
    ``register`` accepts a ``click.Command`` (or ``click.Group``); its ``name`` becomes the
    sub-command, and may not be one of physsim's own (``run``, ``plugins``...).
    """


@hookspec
def on_run_start(scenario: Any) -> None:
    """Observe the start of a run.

    Called by :func:`physsim.runner.run_scene` after the scenario is built and before the
    attack starts. ``scenario`` is the frozen :class:`physsim.runner.Scenario`; do not mutate it.
    """


@hookspec
def on_run_end(scenario: Any, result: Any) -> None:
    """Observe the end of a run.

    Called by :func:`physsim.runner.run_scene` after evaluation, before the report is
    written, with the scenario and its :class:`physsim.runner.RunResult`.
    """
