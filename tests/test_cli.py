"""The command line: version, the plugin listing, and how user errors are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin_fakes import install_attack_plugin, install_fake, isolated_plugins

from physsim import __version__
from physsim.cli import KIND_CHOICES, cli

ROW_KEYS = {"name", "kind", "plugin", "version", "status"}


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fake installed attack plugin and a broken one; plugin state fresh and restored."""
    with isolated_plugins(monkeypatch, tmp_path) as path:
        install_attack_plugin(path, "fake-cli", "fake_cli_attack", version="2.0")
        install_fake(path, "fake-cli-broken", "import no_such_module_anywhere\n")
        yield path


def _physsim(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m physsim ARGS`` in a clean environment (no PHYSSIM_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHYSSIM_")}
    return subprocess.run([sys.executable, "-m", "physsim", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"physsim, version {__version__}\n"


def test_python_m_physsim_version() -> None:
    run = _physsim("--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"physsim, version {__version__}\n"


@pytest.mark.filterwarnings("ignore:physsim plugin 'fake_cli_broken'")
def test_plugins_json_schema(root: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == ROW_KEYS, row
        assert all(isinstance(v, str) and v for v in row.values()), row
        assert row["kind"] in KIND_CHOICES and row["status"] in ("ok", "broken"), row
    assert {"name": "fake_cli_attack", "kind": "attack", "plugin": "fake_cli",
            "version": "2.0", "status": "ok"} in rows
    assert {"name": "fake_cli_broken", "kind": "plugin", "plugin": "fake_cli_broken",
            "version": "0.1", "status": "broken"} in rows


@pytest.mark.filterwarnings("ignore:physsim plugin 'fake_cli_broken'")
@pytest.mark.parametrize("kind", ["attack", "plugin", "scene"])
def test_plugins_kind_filter(root: Path, kind: str) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json", "--kind", kind])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["kind"] for row in rows} <= {kind}
    names = {row["name"] for row in rows}
    assert ("fake_cli_attack" in names) == (kind == "attack")
    assert ("fake_cli_broken" in names) == (kind == "plugin")


def test_plugins_rejects_an_unknown_kind() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--kind", "attacks"])
    assert result.exit_code == 2 and "Invalid value for '--kind'" in result.stderr


@pytest.mark.parametrize(("args", "line"), [
    (["eot-preview", "-n", "0"],
     "Error: Invalid value for '-n': 0 is not in the range x>=1 (see 'physsim eot-preview "
     "--help')"),
    (["eot-preview", "--bogus"],
     "Error: No such option '--bogus' (see 'physsim eot-preview --help')"),
    (["runn"], "Error: No such command 'runn'. Did you mean 'run'? (see 'physsim --help')"),
    (["print"], "Error: Missing argument 'RUN_DIR' (see 'physsim print --help')"),
])
def test_a_usage_error_is_one_line(args: list[str], line: str) -> None:
    # click's own usage block was three lines and a blank one before the error
    result = CliRunner().invoke(cli, args, prog_name="physsim")
    assert result.exit_code == 2 and result.stderr.splitlines() == [line]


@pytest.mark.filterwarnings("ignore:physsim plugin 'fake_cli_broken'")
def test_plugins_text_listing(root: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--kind", "attack"])
    assert result.exit_code == 0
    [line] = [ln for ln in result.stdout.splitlines() if "fake_cli_attack" in ln]
    assert line.split() == ["attack", "fake_cli_attack", "fake_cli", "2.0"]


def test_user_error_is_one_line_and_exit_status_2() -> None:
    run = _physsim("new-plugin", "9lives")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "Error: plugin name: expected letters, digits, '-' or '_', starting with a letter and "
        "ending with a letter or digit (e.g. 'demo'), got '9lives'"
    ]


def test_user_error_shows_a_traceback_under_debug() -> None:
    run = _physsim("--debug", "new-plugin", "9lives")
    assert run.returncode == 1
    assert run.stderr.startswith("Traceback (most recent call last):")
    assert "physsim.errors.UserError: plugin name: expected letters" in run.stderr


def test_the_run_command_takes_the_seeds_a_scene_takes() -> None:
    # cli.py types the limit out (importing physsim.scene there would load torch at start-up)
    from physsim.scene import SEED_MAX

    seed = next(p for p in cli.commands["run"].params if p.name == "seed")
    assert (seed.type.min, seed.type.max) == (0, SEED_MAX)  # type: ignore[attr-defined]
