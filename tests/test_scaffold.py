"""``physsim new-plugin``: names, refusals, and generated packages that pass their own tests.

The generated tests run in a subprocess with the package folder on PYTHONPATH instead of a
``pip install -e`` (seconds instead of a build); CI also installs one scaffolded package for
real.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin_fakes import isolated_plugins

from physsim.cli import cli
from physsim.errors import UserError
from physsim.plugins import entries, load_plugins, pm
from physsim.scaffold import KIND_TEMPLATES, new_plugin, plugin_names

KINDS = sorted(KIND_TEMPLATES)


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    with isolated_plugins(monkeypatch, tmp_path) as path:
        yield path


@pytest.mark.parametrize(("name", "dist", "package", "registered", "cls"), [
    ("demo", "physsim-demo", "physsim_demo", "demo", "DemoAttack"),
    ("my-patch", "physsim-my-patch", "physsim_my_patch", "my_patch", "MyPatchAttack"),
    ("fast_attack", "physsim-fast-attack", "physsim_fast_attack", "fast_attack", "FastAttack"),
    ("physsim-demo", "physsim-demo", "physsim_demo", "demo", "DemoAttack"),
])
def test_plugin_names(name: str, dist: str, package: str, registered: str, cls: str) -> None:
    names = plugin_names(name)
    assert (names.dist, names.package, names.name) == (dist, package, registered)
    assert names.class_name("Attack") == cls


@pytest.mark.parametrize("name", ["9lives", "bad name", "demo!", "", "-", "demo_", "_demo",
                                  "ümlaut", "a.b"])
def test_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match=r"^plugin name: expected letters"):
        new_plugin(name, "attack", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "kind", "error"), [
    # its component would clash with the built-in: every command needing attacks would fail
    ("fgsm", "attack", "plugin name: attack 'fgsm' is already registered (by plugin "
                       "'physsim_attacks'); choose another name"),
    ("physsim-fgsm", "attack", "plugin name: attack 'fgsm' is already"),
    ("jpeg", "transform", "plugin name: transform 'jpeg' is already registered"),
    # its package would be shadowed by physsim's own plugin package of that name
    ("attacks", "defense", "plugin name: the package physsim_attacks would be hidden by"),
])
def test_rejects_names_that_would_clash_once_installed(tmp_path: Path, name: str, kind: str,
                                                       error: str) -> None:
    with pytest.raises(UserError) as info:
        new_plugin(name, kind, tmp_path)
    assert str(info.value).startswith(error)
    assert list(tmp_path.iterdir()) == []


def test_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--kind: expected one of attack"):
        new_plugin("demo", "object", tmp_path)


def test_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "physsim-demo"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="physsim-demo already exists"):
        new_plugin("demo", "attack", tmp_path)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert (target / "mine.txt").read_text() == "keep me"


def test_parent_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is not a folder"):
        new_plugin("demo", "attack", tmp_path / "file")
    with pytest.raises(UserError, match=r"^--output: cannot create .*physsim-demo \(Not a "
                                        r"directory\)$"):
        new_plugin("demo", "attack", tmp_path / "file" / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_layout_and_entry_point(tmp_path: Path) -> None:
    target = new_plugin("demo", "defense", tmp_path / "new" / "parent")
    assert target == tmp_path / "new" / "parent" / "physsim-demo"
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["README.md", "physsim_demo/__init__.py", "physsim_demo/defense.py",
                     "pyproject.toml", "tests/test_defense.py", "tests/test_registration.py"]
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points.physsim]\ndemo = "physsim_demo"' in pyproject
    assert 'name = "physsim-demo"' in pyproject
    assert "$" not in "".join(p.read_text() for p in target.rglob("*") if p.is_file())


def test_cli_new_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["new-plugin", "demo", "--kind", "transform"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("created physsim-demo\n")
    assert (tmp_path / "physsim-demo" / "physsim_demo" / "transform.py").is_file()
    again = runner.invoke(cli, ["new-plugin", "demo", "-o", str(tmp_path)])
    assert again.exit_code == 2
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr


def _clean_env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHYSSIM_")}
    env["PYTHONPATH"] = str(pythonpath)
    return env


@pytest.mark.parametrize("kind", KINDS)
def test_generated_package_passes_its_tests(
    root: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    target = new_plugin(f"demo_{kind}", kind, root / "out")
    package = f"physsim_demo_{kind}"
    # what `pip install -e` would give physsim: the module, registered as plugin "demo_<kind>"
    monkeypatch.syspath_prepend(str(target))
    module = importlib.import_module(package)
    load_plugins()
    pm.register(module, name=f"demo_{kind}")
    [entry] = [e for e in entries(kind) if e.name == f"demo_{kind}"]
    assert entry.plugin == f"demo_{kind}" and entry.obj.__module__ == f"{package}.{kind}"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
        cwd=target, env=_clean_env(target), capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    beside_python = Path(sys.executable).with_name("ruff")
    ruff = str(beside_python) if beside_python.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    targets = [new_plugin(f"street-sign-{kind}", kind, tmp_path) for kind in KINDS]
    # each package's own [tool.ruff] applies: physsim is third-party there
    run = subprocess.run([ruff, "check", "--no-cache", *map(str, targets)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
