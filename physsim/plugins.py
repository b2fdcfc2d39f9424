"""The one plugin manager, plugin loading, and the typed registry accessors.

Built-in plugins are registered from :data:`BUILTIN_PLUGINS` with the same hooks third parties
use; third-party plugins arrive through the ``physsim`` entry-point group. The accessors
(:func:`get_attacks` ...) build the name -> component mapping from the hooks each time they are
asked (registration is cheap by contract); that mapping is the only registry.

Environment:
    PHYSSIM_LOAD_PLUGINS: comma-separated distributions whose entry points to load; set but
        empty loads no third-party plugin. Unset loads every installed one.
    PHYSSIM_DISABLE_PLUGINS: comma-separated plugin names to block (built-in or third-party).
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from physsim import __version__, hookspecs
from physsim.errors import DuplicateNameError, UnknownNameError, UserError

ENTRY_POINT_GROUP = "physsim"

#: Built-in plugins: importable modules that implement hooks, registered in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "physsim.builtin",
    "physsim.eot.plugin",
    "physsim_attacks",
    "physsim_signs",
    "physsim_digits",
    "physsim_models",
)

#: kind -> (hook name, base class path) for the component registries.
KINDS: dict[str, str] = {
    "attack": "register_attacks",
    "defense": "register_defenses",
    "classifier": "register_classifiers",
    "transform": "register_transforms",
    "object": "register_objects",
}

pm = pluggy.PluginManager("physsim")
pm.add_hookspecs(hookspecs)


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that raised while being imported or registered."""

    name: str
    version: str
    error: str


@dataclass(frozen=True)
class Entry:
    """One registered component: what ``physsim plugins`` lists."""

    name: str
    kind: str
    plugin: str
    version: str
    obj: Any
    status: str = "ok"


_state: dict[str, Any] = {"loaded": False, "broken": [], "versions": {}}

T = TypeVar("T")


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _mark_broken(name: str, version: str, exc: BaseException) -> None:
    msg = f"{type(exc).__name__}: {exc}"
    warnings.warn(f"physsim plugin {name!r} failed to load: {msg}", stacklevel=3)
    _state["broken"].append(BrokenPlugin(name, version, msg))


def load_plugins() -> None:
    """Register the built-ins and the installed third-party plugins (once per process)."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    for name in _env_list("PHYSSIM_DISABLE_PLUGINS") or []:
        pm.set_blocked(name)
    for modname in BUILTIN_PLUGINS:
        if pm.is_blocked(modname):
            continue
        try:
            pm.register(importlib.import_module(modname), name=modname)
        except Exception as exc:
            _mark_broken(modname, __version__, exc)
        _state["versions"][modname] = __version__
    allowed = _env_list("PHYSSIM_LOAD_PLUGINS")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ep.name
        version = ep.dist.version if ep.dist else "unknown"
        if allowed is not None and dist not in allowed and ep.name not in allowed:
            continue
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            _mark_broken(ep.name, version, exc)
            continue
        _state["versions"][ep.name] = version
    pm.check_pending()


def reset_plugins() -> None:
    """Forget every registered plugin (for tests that change the environment)."""
    for name, _plugin in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    for name in list(getattr(pm, "_name2plugin", {})):
        pm.unblock(name)
    _state.update(loaded=False, broken=[], versions={})


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

        def register(*args: Any, _plugin: str = plugin, _version: str = version) -> None:
            name, obj = accept(*args)
            if name in seen:
                raise DuplicateNameError(kind, name, seen[name], _plugin)
            seen[name] = _plugin
            entries.append(Entry(name, kind, _plugin, _version, obj))

        try:
            impl.function(register=register)
        except UserError:
            raise
        except Exception as exc:
            if not any(b.name == plugin for b in _state["broken"]):
                _mark_broken(plugin, version, exc)
    return entries


def _accept_component(kind: str) -> Callable[[Any], tuple[str, Any]]:
    def accept(obj: Any) -> tuple[str, Any]:
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a registered {kind} needs a non-empty str `name`, got {obj!r}")
        if getattr(obj, "kind", None) != kind:
            raise TypeError(f"{obj!r} is registered as a {kind} but its kind is {obj.kind!r}")
        return name, obj

    return accept


def _accept_scene(name: str, path: Path | str) -> tuple[str, Path]:
    return name, Path(path)


def _accept_command(cmd: Any) -> tuple[str, Any]:
    if not getattr(cmd, "name", None):
        raise TypeError(f"a registered command needs a name, got {cmd!r}")
    return str(cmd.name), cmd


def entries(kind: str) -> list[Entry]:
    """Every registered component of one kind (attack, defense, ..., scene, command)."""
    if kind == "scene":
        return _collect("register_scenes", kind, _accept_scene)
    if kind == "command":
        return _collect("register_commands", kind, _accept_command)
    return _collect(KINDS[kind], kind, _accept_component(kind))


def all_entries() -> list[Entry]:
    """Every registered component of every kind, plus a row per broken plugin."""
    rows = [e for kind in (*KINDS, "scene", "command") for e in entries(kind)]
    rows += [Entry(b.name, "plugin", b.name, b.version, None, "broken") for b in _state["broken"]]
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
