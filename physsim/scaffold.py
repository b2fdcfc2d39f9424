"""``physsim new-plugin``: scaffold a plugin package that passes its own tests once installed.

``new_plugin("demo", "attack", parent)`` writes ``parent/physsim-demo/``: a ``pyproject.toml``
declaring the ``physsim`` entry point, the package ``physsim_demo`` with a small working
component of the asked kind and the hook that registers it, tests that subclass the matching
contract class from :mod:`physsim.testing`, and a README.

The templates are ``string.Template`` files in ``physsim/scaffold_templates/`` (``${name}``
placeholders; the Python in them never uses ``$`` otherwise).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from physsim import __version__
from physsim.errors import UserError

#: what the scaffold needs to know about each kind it can generate
KIND_TEMPLATES: dict[str, dict[str, str]] = {
    "attack": {"base_module": "physsim.attack", "base": "Attack",
               "contract": "AttackContract", "hook": "register_attacks"},
    "defense": {"base_module": "physsim.defense", "base": "Defense",
                "contract": "DefenseContract", "hook": "register_defenses"},
    "classifier": {"base_module": "physsim.classifier", "base": "Classifier",
                   "contract": "ClassifierContract", "hook": "register_classifiers"},
    "transform": {"base_module": "physsim.eot.base", "base": "Transform",
                  "contract": "TransformContract", "hook": "register_transforms"},
}

# an identifier that also makes a valid distribution name (letter first, no trailing "_")
_PLUGIN_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin NAME turns into.

    Attributes:
        name: the registered component name and entry-point name, e.g. ``my_attack``.
        dist: the distribution (what ``pip install`` takes), e.g. ``physsim-my-attack``.
        package: the import package, e.g. ``physsim_my_attack``.
    """

    name: str
    dist: str
    package: str

    def class_name(self, base: str) -> str:
        """CamelCase of the name with the base class appended unless already there."""
        camel = "".join(part[:1].upper() + part[1:] for part in self.name.split("_") if part)
        return camel if camel.endswith(base) else camel + base


def plugin_names(name: str) -> PluginNames:
    """Validate a plugin NAME (``demo``, ``my-attack``) and derive its package names.

    A leading ``physsim-`` or ``physsim_`` is dropped, since it is added back.

    Raises:
        UserError: NAME is not an ASCII Python identifier once ``-`` is replaced by ``_`` (or
            it starts or ends with ``_``, which distribution names do not allow).
    """
    snake = name.strip().replace("-", "_")
    if snake.lower().startswith("physsim_") and len(snake) > len("physsim_"):
        snake = snake[len("physsim_"):]
    if not _PLUGIN_NAME.fullmatch(snake):
        raise UserError(
            "expected letters, digits, '-' or '_', starting with a letter and ending with a "
            f"letter or digit (e.g. 'demo'), got {name!r}",
            "plugin name",
        )
    return PluginNames(snake, "physsim-" + snake.replace("_", "-"), "physsim_" + snake)


def _check_free(names: PluginNames, kind: str) -> None:
    """Refuse a name the installed plugin could not have: its package would be shadowed by
    one of physsim's own, or its component would clash with one already registered (which
    would make every command that needs that registry fail)."""
    from physsim.plugins import BUILTIN_PLUGINS, entries

    if names.package in BUILTIN_PLUGINS:
        raise UserError(f"the package {names.package} would be hidden by physsim's own package "
                        f"of that name; choose another name", "plugin name")
    for entry in entries(kind):
        if entry.name == names.name:
            raise UserError(f"{kind} {names.name!r} is already registered (by plugin "
                            f"{entry.plugin!r}); choose another name", "plugin name")


def _template(filename: str) -> Template:
    return Template((files("physsim") / "scaffold_templates" / filename).read_text("utf-8"))


def _files_for(names: PluginNames, kind: str) -> dict[str, str]:
    """Relative path -> rendered text of every file of the package."""
    spec = KIND_TEMPLATES[kind]
    major_minor = ".".join(__version__.split("+")[0].split(".")[:2])
    values = {**spec, "name": names.name, "dist": names.dist, "package": names.package,
              "kind": kind, "cls": names.class_name(spec["base"]),
              "physsim_version": major_minor}
    layout = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"{names.package}/__init__.py": "__init__.py.tmpl",
        f"{names.package}/{kind}.py": f"{kind}.py.tmpl",
        f"tests/test_{kind}.py": f"test_{kind}.py.tmpl",
        "tests/test_registration.py": "test_registration.py.tmpl",
    }
    return {path: _template(tmpl).substitute(values) for path, tmpl in layout.items()}


def new_plugin(name: str, kind: str = "attack", parent: Path | str = ".") -> Path:
    """Create the plugin package ``parent/physsim-<name>`` and return its path.

    Args:
        name: the plugin name; ``demo`` gives the distribution ``physsim-demo``, the package
            ``physsim_demo`` and a component registered as ``demo``.
        kind: "attack", "defense", "classifier" or "transform".
        parent: the folder in which to create the package folder (created if missing).

    Raises:
        UserError: a bad name or kind, a name that would clash once installed (a component
            of that kind already registered under it, or a package name of physsim's own),
            or the target folder already exists (it is never overwritten).
    """
    if kind not in KIND_TEMPLATES:
        raise UserError(f"expected one of {', '.join(KIND_TEMPLATES)}, got {kind!r}", "--kind")
    names = plugin_names(name)
    _check_free(names, kind)
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{parent} is not a folder", "--output")
    target = parent / names.dist
    rendered = _files_for(names, kind)  # render first: a template bug leaves nothing behind
    try:
        parent.mkdir(parents=True, exist_ok=True)
        target.mkdir()
    except FileExistsError:
        raise UserError(f"{target} already exists; it is never overwritten", "new-plugin") from None
    except OSError as exc:  # a read-only place, a file where a folder should be...
        raise UserError(f"cannot create {target} ({exc.strerror or exc})", "--output") from None
    try:
        for rel, text in rendered.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:  # the folder is this call's own: a failure leaves no half package
        shutil.rmtree(target, ignore_errors=True)
        raise UserError(f"cannot write the package ({exc.strerror or exc})", str(target)) \
            from None
    return target
