"""The one plugin manager, plugin loading, and the typed registry accessors.

Built-in plugins are registered from :data:`BUILTIN_PLUGINS` with the same hooks third parties
use; third-party plugins arrive through the ``physsim`` entry-point group. The accessors
(:func:`get_attacks` ...) build the name -> component mapping from the hooks each time they are
asked (registration is cheap by contract); that mapping is the only registry.

Environment:
    PHYSSIM_LOAD_PLUGINS: comma-separated distributions whose entry points to load; set but
        empty loads no third-party plugin. Unset loads every installed one.
        Entry-point (plugin) names are accepted too; distribution names compare as pip does.
    PHYSSIM_DISABLE_PLUGINS: comma-separated plugin names to block (built-in module names or
        entry-point names) or distributions whose entry points to skip.
"""

from __future__ import annotations

import importlib
import os
import re
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import click
import pluggy

from physsim import __version__, hookspecs
from physsim.errors import DuplicateNameError, UnknownNameError

ENTRY_POINT_GROUP = "physsim"

#: Built-in plugins: importable modules that implement hooks, registered in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "physsim.builtin",
    "physsim.eot.plugin",
    "physsim_attacks",
    "physsim_signs",
    "physsim_digits",
    "physsim_models",
    "physsim_physical",
    "physsim_defenses",
)

#: kind -> (hook name, base class path) for the component registries.
KINDS: dict[str, str] = {
    "attack": "register_attacks",
    "defense": "register_defenses",
    "classifier": "register_classifiers",
    "transform": "register_transforms",
    "object": "register_objects",
}

#: The commands the ``physsim`` group defines itself; a plugin command may not take these names.
CORE_COMMANDS: tuple[str, ...] = ("eval-classifier", "new-plugin", "plugins", "print", "run")

pm = pluggy.PluginManager("physsim")
pm.add_hookspecs(hookspecs)


class PluginWarning(UserWarning):
    """A plugin failed to load: it is left out, and every other plugin still works."""


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that raised while being imported or registered."""

    name: str
    version: str
    error: str
    #: the exception's traceback, for the plugin's author (``physsim --debug plugins``)
    traceback: str = ""


@dataclass(frozen=True)
class Entry:
    """One registered component: what ``physsim plugins`` lists."""

    name: str
    kind: str
    plugin: str
    version: str
    obj: Any
    status: str = "ok"


_state: dict[str, Any] = {"loaded": False, "broken": [], "versions": {}, "blocked": []}

T = TypeVar("T")


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _mark_broken(name: str, version: str, exc: BaseException) -> None:
    # one line, whatever the exception says (pluggy's validation errors span several)
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    msg = f"{type(exc).__name__}: {text}"
    warnings.warn(f"physsim plugin {name!r} failed to load: {msg}", PluginWarning, stacklevel=3)
    _state["broken"].append(BrokenPlugin(name, version, msg,
                                         "".join(traceback.format_exception(exc))))


def _normalise(dist: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Foo_Bar`` -> ``foo-bar``."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _check_pending(plugin: object) -> None:
    """``pm.check_pending()`` for one plugin: every hook it implements must be a physsim hook.

    Checking only the new plugin keeps one misspelt hook from being blamed on every plugin
    registered after it.
    """
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                raise pluggy.PluginValidationError(
                    plugin, f"unknown hook {caller.name!r} (not in physsim.hookspecs; misspelt?)"
                )


def _register(name: str, load: Callable[[], Any], version: str) -> None:
    """Import and register one plugin; if anything fails, report it by name and carry on.

    A hook implementation without a hook specification (a misspelt ``register_atacks``) is
    caught here, as ``pm.check_pending()`` would catch it, and marks the plugin broken.
    """
    plugin = None
    try:
        if pm.get_plugin(name) is not None:
            raise ValueError(f"another plugin is already registered under the name {name!r}")
        plugin = load()
        pm.register(plugin, name=name)
        _check_pending(plugin)
        _check_registration(name)
    except Exception as exc:
        # pluggy does not roll back a half-registered plugin; take out what it kept
        if plugin is not None and pm.get_plugin(name) is plugin:
            pm.unregister(name=name)
        _mark_broken(name, version, exc)
        return
    _state["versions"][name] = version


def _check_registration(name: str) -> None:
    """Call each of the plugin's ``register_*`` hooks once, checking what it registers.

    A hook that raises, registers something nameless, of the wrong kind or twice, or returns
    a value (components are given to ``register``, not returned), makes the plugin broken as it
    loads, before any of its components can be used. Names are not compared with other
    plugins' here: a clash is an error of the registry, raised when it is built.
    """
    plugin = pm.get_plugin(name)
    hooks: dict[str, tuple[str, Callable[..., tuple[str, Any]]]] = {
        **{h: (k, _accept_component(k)) for k, h in KINDS.items()},
        "register_scenes": ("scene", _accept_scene),
        "register_commands": ("command", _accept_command)}
    for hook_name, (kind, accept) in hooks.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            names: set[str] = set()

            def register(*args: Any, _accept: Callable[..., tuple[str, Any]] = accept,
                         _kind: str = kind, _names: set[str] = names) -> None:
                item, _obj = _accept(*args)
                if item in _names:
                    raise ValueError(f"it registers the {_kind} {item!r} twice")
                _names.add(item)

            returned = impl.function(register=register)
            if returned is not None:
                raise TypeError(f"{hook_name} returned {type(returned).__name__}: it must call "
                                f"register(...) once per component and return None")


def load_plugins() -> None:
    """Register the built-ins and the installed third-party plugins (once per process).

    A plugin that fails to import or to register, or that implements a hook physsim does not
    define, is recorded as broken (see :func:`broken_plugins`) with a warning naming it; every
    other plugin still loads.
    """
    if _state["loaded"]:
        return
    _state["loaded"] = True
    disabled = _env_list("PHYSSIM_DISABLE_PLUGINS") or []
    for name in disabled:
        pm.set_blocked(name)
        _state["blocked"].append(name)
    for modname in BUILTIN_PLUGINS:
        if not pm.is_blocked(modname):
            _register(modname, partial(importlib.import_module, modname), __version__)
    allowed = _env_list("PHYSSIM_LOAD_PLUGINS")
    allowed_dists = {_normalise(a) for a in allowed or []}
    blocked_dists = {_normalise(d) for d in disabled}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = _normalise(ep.dist.name if ep.dist else ep.name)
        version = ep.dist.version if ep.dist else "unknown"
        if allowed is not None and dist not in allowed_dists and ep.name not in allowed:
            continue
        if pm.is_blocked(ep.name) or dist in blocked_dists:
            continue
        _register(ep.name, ep.load, version)


def reset_plugins() -> None:
    """Forget every registered and blocked plugin (for tests that change the environment)."""
    for name, _plugin in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    for name in _state["blocked"]:
        pm.unblock(name)
    _state.update(loaded=False, broken=[], versions={}, blocked=[])


def loaded_plugins() -> dict[str, str]:
    """The plugins loaded and not broken, by name, with their versions (for a run's
    manifest): every one of them can take part in a run, through its components or its
    observers, whether or not another plugin's registry clashes."""
    load_plugins()
    return {name: _state["versions"].get(name, "unknown")
            for name, plugin in pm.list_name_plugin() if plugin is not None}


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that raised at import or registration, in the order they failed."""
    load_plugins()
    return list(_state["broken"])


def _collect(hook_name: str, kind: str, accept: Callable[..., tuple[str, Any]]) -> list[Entry]:
    """Call one register hook plugin by plugin, attributing each item to its plugin."""
    load_plugins()
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin = impl.plugin_name
        version = _state["versions"].get(plugin, "unknown")
        mine: list[Entry] = []

        def register(*args: Any, _plugin: str = plugin, _version: str = version,
                     _mine: list[Entry] = mine) -> None:
            name, obj = accept(*args)
            if kind == "command" and name in CORE_COMMANDS:
                raise DuplicateNameError(kind, name, None, _plugin)
            if name in seen:
                raise DuplicateNameError(kind, name, seen[name], _plugin)
            seen[name] = _plugin
            _mine.append(Entry(name, kind, _plugin, _version, obj))

        try:
            impl.function(register=register)
        except DuplicateNameError:
            raise
        except Exception as exc:  # a UserError of the plugin's own too: the others still work
            # take the plugin out: none of what it registered, here or in its other hooks
            for entry in mine:
                seen.pop(entry.name, None)
            pm.unregister(name=plugin)
            if not any(b.name == plugin for b in _state["broken"]):
                _mark_broken(plugin, version, exc)
            continue
        entries += mine
    return entries


def _accept_component(kind: str) -> Callable[[Any], tuple[str, Any]]:
    def accept(obj: Any) -> tuple[str, Any]:
        if not isinstance(obj, type):
            raise TypeError(f"register the {kind}'s class, not an instance: got {obj!r}")
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a registered {kind} needs a non-empty str `name`, got {obj!r}")
        if (its := getattr(obj, "kind", None)) != kind:
            raise TypeError(f"{obj!r} is registered as the kind {kind!r} but its kind is {its!r}")
        return name, obj

    return accept


def _accept_scene(name: Any, path: Any) -> tuple[str, Path]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a registered scene needs a non-empty str name, got {name!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"scene {name!r}: the path must be a str or a Path, got {path!r}")
    return name, Path(path)


def _accept_command(cmd: Any) -> tuple[str, Any]:
    if not isinstance(cmd, click.Command):
        raise TypeError(f"register_commands registers click commands, got {cmd!r}")
    if not cmd.name:
        raise TypeError(f"a registered command needs a name, got {cmd!r}")
    return str(cmd.name), cmd


def entries(kind: str) -> list[Entry]:
    """Every registered component of one kind (attack, defense, ..., scene, command)."""
    if kind == "scene":
        return _collect("register_scenes", kind, _accept_scene)
    if kind == "command":
        return _collect("register_commands", kind, _accept_command)
    return _collect(KINDS[kind], kind, _accept_component(kind))


def all_entries(kind: str | None = None) -> list[Entry]:
    """Every registered component of every kind, plus a row per broken plugin (kind
    ``plugin``); or those of one kind only, building that registry alone (a name clash in
    another does not stop it)."""
    kinds = (*KINDS, "scene", "command") if kind is None else (kind,)
    rows = [e for k in kinds if k != "plugin" for e in entries(k)]
    if kind in (None, "plugin"):
        load_plugins()
        rows += [Entry(b.name, "plugin", b.name, b.version, None, "broken")
                 for b in _state["broken"]]
    return rows


def _mapping(kind: str) -> dict[str, Any]:
    return {e.name: e.obj for e in entries(kind)}


def get_attacks() -> dict[str, Any]:
    """Registered attacks: name -> subclass of :class:`physsim.attack.Attack`."""
    return _mapping("attack")


def get_defenses() -> dict[str, Any]:
    """Registered defenses: name -> subclass of :class:`physsim.defense.Defense`."""
    return _mapping("defense")


def get_classifiers() -> dict[str, Any]:
    """Registered classifiers: name -> subclass of :class:`physsim.classifier.Classifier`."""
    return _mapping("classifier")


def get_transforms() -> dict[str, Any]:
    """Registered EOT transforms: name -> subclass of :class:`physsim.eot.base.Transform`."""
    return _mapping("transform")


def get_objects() -> dict[str, Any]:
    """Registered objects: name -> subclass of :class:`physsim.objects.PhysicalObject`."""
    return _mapping("object")


def get_scenes() -> dict[str, Path]:
    """Registered scenes: name -> path of the YAML file."""
    return _mapping("scene")


def get_commands() -> dict[str, Any]:
    """Registered extra CLI commands: name -> click command."""
    return _mapping("command")


def lookup(kind: str, name: str, where: str | None = None) -> Any:
    """The component ``name`` of ``kind``, or an :class:`UnknownNameError` listing the others."""
    mapping = _mapping(kind)
    if name not in mapping:
        raise UnknownNameError(kind, name, list(mapping), where)
    return mapping[name]
