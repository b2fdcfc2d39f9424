"""Fake installed plugins for the plugin-system tests.

A fake distribution is a ``<module>-<version>.dist-info`` folder (``METADATA`` and an
``entry_points.txt`` with a ``[physsim]`` section) beside the plugin module, in a folder put on
``sys.path``: ``importlib.metadata`` finds it exactly as it finds a pip-installed one.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from physsim.plugins import reset_plugins

ENV_VARS = ("PHYSSIM_LOAD_PLUGINS", "PHYSSIM_DISABLE_PLUGINS")

#: a plugin module registering one attack named ``{attack}``
ATTACK_PLUGIN = '''
from physsim.attack import Attack, AttackResult
from physsim.hookspecs import hookimpl


class FakeAttack(Attack):
    name = "{attack}"

    def perturb(self, objective, x0, goal, budget, **kwargs):
        return AttackResult(x0, x0 * 0, goal.labels != goal.labels)


@hookimpl
def register_attacks(register):
    register(FakeAttack)
'''


def install_fake(root: Path, dist: str, source: str, *, version: str = "0.1",
                 entry_point: str | None = None) -> str:
    """Write a fake distribution ``dist`` whose plugin module has ``source``; return its name.

    The module is named like the distribution with ``-`` replaced by ``_``; the entry point is
    named ``entry_point`` (default: the module name).
    """
    module = dist.replace("-", "_")
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[physsim]\n{entry_point or module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    # both the import system and importlib.metadata cache directory listings
    importlib.invalidate_caches()
    return module


def install_attack_plugin(root: Path, dist: str, attack: str, version: str = "0.1") -> str:
    """A fake distribution registering one attack named ``attack``."""
    return install_fake(root, dist, ATTACK_PLUGIN.format(attack=attack), version=version)


@contextmanager
def isolated_plugins(monkeypatch: pytest.MonkeyPatch, root: Path) -> Iterator[Path]:
    """Fresh plugin state with ``root`` on ``sys.path``; everything is restored afterwards.

    Forgets the plugins before and after, clears the PHYSSIM_* variables, and drops the modules
    imported from folders the test put on ``sys.path`` so that the next test imports afresh.
    """
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    path_before = list(sys.path)
    reset_plugins()
    monkeypatch.syspath_prepend(str(root))
    try:
        yield root
    finally:
        reset_plugins()
        added = [p for p in sys.path if p not in path_before]
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if any(file.startswith(os.path.join(p, "")) for p in added):
                del sys.modules[name]
