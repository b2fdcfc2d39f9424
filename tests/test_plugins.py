"""The plugin system through real entry points: listing, broken plugins, duplicates, selection.

Every hook has a test here named ``test_hook_<hook name>`` that registers a plugin implementing
it and checks that physsim uses what it registered (``tests/test_hookspecs_documented.py``
enforces the rule).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pluggy
import pytest
import torch
from click.testing import CliRunner
from plugin_fakes import ATTACK_PLUGIN, install_attack_plugin, install_fake, isolated_plugins

from physsim.attack import Attack
from physsim.classifier import Classifier
from physsim.cli import cli
from physsim.defense import InputTransform
from physsim.eot.base import Params, Transform
from physsim.errors import DuplicateNameError, UnknownNameError
from physsim.hookspecs import hookimpl
from physsim.objects import ObjectTexture, PhysicalObject
from physsim.plugins import (
    Entry,
    all_entries,
    broken_plugins,
    entries,
    get_attacks,
    get_classifiers,
    get_commands,
    get_defenses,
    get_objects,
    get_scenes,
    get_transforms,
    load_plugins,
    loaded_plugins,
    lookup,
    pm,
    reset_plugins,
)
from physsim.testing import linear_toy_classifier

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "physsim-example"


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path for fake distributions; plugin state is fresh and restored."""
    with isolated_plugins(monkeypatch, tmp_path) as path:
        yield path


def _json_rows(*args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(cli, ["plugins", "--json", *args])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


# --- the entry-point route -----------------------------------------------------------------


def test_hook_register_attacks(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack", version="1.2.3")
    attack = get_attacks()["fake_good_attack"]
    assert issubclass(attack, Attack) and attack.__module__ == "fake_good"
    [entry] = [e for e in all_entries() if e.name == "fake_good_attack"]
    assert (entry.kind, entry.plugin, entry.version, entry.status) == (
        "attack", "fake_good", "1.2.3", "ok")
    row = {"name": "fake_good_attack", "kind": "attack", "plugin": "fake_good",
           "version": "1.2.3", "status": "ok"}
    assert row in _json_rows()


def test_unknown_name_lists_the_registered_ones(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    with pytest.raises(UnknownNameError, match="fake_good_attack") as info:
        lookup("attack", "no_such_attack", "attack.name")
    assert str(info.value).startswith("attack.name: unknown attack 'no_such_attack'")


def test_plugin_failing_at_import_is_reported_and_the_rest_works(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    install_fake(root, "fake-broken", "raise RuntimeError('boom at import')\n")
    with pytest.warns(UserWarning, match="'fake_broken' failed to load: RuntimeError: boom"):
        rows = all_entries()
    broken = [e for e in rows if e.status == "broken"]
    assert Entry("fake_broken", "plugin", "fake_broken", "0.1", None, "broken") in broken
    assert "fake_good_attack" in get_attacks()
    assert [b.error for b in broken_plugins() if b.name == "fake_broken"] == [
        "RuntimeError: boom at import"]
    json_rows = _json_rows()
    assert {"name": "fake_broken", "kind": "plugin", "plugin": "fake_broken",
            "version": "0.1", "status": "broken"} in json_rows
    assert any(r["name"] == "fake_good_attack" for r in json_rows)
    text = CliRunner().invoke(cli, ["plugins"])
    assert text.exit_code == 0
    assert any("fake_broken" in line and "[broken]" in line for line in text.stdout.splitlines())


def test_plugin_failing_in_its_hook_is_reported(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    install_fake(root, "fake-raising", """
        from physsim.hookspecs import hookimpl

        @hookimpl
        def register_attacks(register):
            raise KeyError("weights.pt")
    """)
    with pytest.warns(UserWarning, match="'fake_raising' failed to load: KeyError"):
        attacks = get_attacks()
    assert "fake_good_attack" in attacks
    assert [b.name for b in broken_plugins()].count("fake_raising") == 1


def test_a_plugin_broken_in_one_hook_is_taken_out_entirely(root: Path) -> None:
    install_fake(root, "fake-half", """
        from physsim.attack import Attack, AttackResult
        from physsim.defense import InputTransform
        from physsim.hookspecs import hookimpl

        class HalfAttack(Attack):
            name = "half_attack"

            def perturb(self, objective, x0, goal, budget, **kwargs):
                return AttackResult(x0, x0 * 0, goal.labels != goal.labels)

        class HalfDefense(InputTransform):
            name = "half_defense"

            def transform(self, x):
                return x

        @hookimpl
        def register_defenses(register):
            register(HalfDefense)

        @hookimpl
        def register_attacks(register):
            register(HalfAttack)  # registered before the failure: dropped with the rest
            raise RuntimeError("the second attack's module is missing")
    """)
    # found as the plugin loads, whichever registry is asked for first
    with pytest.warns(UserWarning, match="'fake_half' failed to load: RuntimeError"):
        defenses = get_defenses()
    assert "half_defense" not in defenses and "half_attack" not in get_attacks()
    assert not pm.has_plugin("fake_half")
    names = {row["name"] for row in _json_rows()}
    assert "fake_half" in names and not names & {"half_attack", "half_defense"}


def test_a_user_error_in_a_register_hook_breaks_only_that_plugin(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    install_fake(root, "fake-config", """
        from physsim.errors import UserError
        from physsim.hookspecs import hookimpl

        @hookimpl
        def register_attacks(register):
            raise UserError("config file missing", "~/.fake.yaml")
    """)
    with pytest.warns(UserWarning, match="'fake_config' failed to load: UserError: "
                                         "~/.fake.yaml: config file missing"):
        rows = _json_rows()
    assert {"name": "fake_config", "kind": "plugin", "plugin": "fake_config",
            "version": "0.1", "status": "broken"} in rows
    assert "fake_good_attack" in get_attacks()


def test_a_plugin_command_may_not_take_a_core_name(root: Path) -> None:
    install_fake(root, "fake-shadow", """
        import click
        from physsim.hookspecs import hookimpl

        @hookimpl
        def register_commands(register):
            register(click.Command("run"))
    """)
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 2 and result.stderr == (
        "Error: command 'run' of plugin 'fake_shadow' has the name of a physsim command; "
        "uninstall the plugin or block it with PHYSSIM_DISABLE_PLUGINS\n")
    helped = CliRunner().invoke(cli, ["--help"])  # still lists the commands, with the error
    assert helped.exit_code == 0 and "run" in helped.stdout and "'run' of plugin" in helped.stderr
    # the core command itself is untouched
    assert "Run SCENE" in CliRunner().invoke(cli, ["run", "--help"]).stdout


def test_core_commands_are_the_groups_own() -> None:
    from physsim.cli import PhyssimGroup
    from physsim.plugins import CORE_COMMANDS

    assert sorted(CORE_COMMANDS) == sorted({*cli.commands, *PhyssimGroup.LAZY})


@pytest.mark.parametrize(("source", "message"), [
    ("@hookimpl\ndef register_atacks(register):\n    pass\n", "unknown hook 'register_atacks'"),
    ("@hookimpl\ndef register_attacks(reg):\n    pass\n", "Argument(s) {'reg'} are declared"),
], ids=["misspelt-hook", "misspelt-argument"])
def test_misspelt_hook_is_reported_by_name(root: Path, source: str, message: str) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    install_fake(root, "fake-typo", "from physsim.hookspecs import hookimpl\n" + source)
    with pytest.warns(UserWarning, match="'fake_typo' failed to load"):
        load_plugins()
    [typo] = [b for b in broken_plugins() if b.name == "fake_typo"]
    assert message in typo.error and "\n" not in typo.error
    assert not pm.has_plugin("fake_typo")
    pm.check_pending()  # the misspelt plugin was taken out again, nothing is left pending
    assert "fake_good_attack" in get_attacks()


class _Misspelt:
    @hookimpl
    def register_atacks(self, register: Callable[[Any], None]) -> None:
        """Misspelt on purpose."""


def test_check_pending_catches_a_misspelt_hook(root: Path) -> None:
    load_plugins()
    pm.register(_Misspelt(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'register_atacks'"):
        pm.check_pending()


def test_a_misspelt_hook_is_not_blamed_on_later_plugins(root: Path) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    pm.register(_Misspelt(), name="misspelt")  # registered by hand before physsim loads
    assert "fake_good_attack" in get_attacks()
    # only a built-in still being written may be broken here; no fake plugin is blamed
    assert [b.name for b in broken_plugins() if not b.name.startswith("physsim")] == []


def test_duplicate_name_fails_naming_both_plugins(root: Path) -> None:
    install_attack_plugin(root, "fake-first", "twin")
    install_attack_plugin(root, "fake-second", "twin")
    both = r"fake_first.*fake_second|fake_second.*fake_first"
    with pytest.raises(DuplicateNameError, match=both):
        get_attacks()
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: attack 'twin' is registered by both")
    assert "fake_first" in lines[0] and "fake_second" in lines[0]
    assert "Traceback" not in result.output
    # the other registries still list, one kind at a time (this used to fail the same way)
    result = CliRunner().invoke(cli, ["plugins", "--kind", "scene"])
    assert result.exit_code == 0 and "stop_sign_sticker" in result.stdout
    assert CliRunner().invoke(cli, ["plugins", "--kind", "attack"]).exit_code == 2


def test_duplicate_command_keeps_help_working(root: Path) -> None:
    source = """
        import click
        from physsim.hookspecs import hookimpl

        @hookimpl
        def register_commands(register):
            register(click.Command("hello"))
    """
    install_fake(root, "fake-cmd-a", source)
    install_fake(root, "fake-cmd-b", source)
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "plugins" in result.stdout
    assert "command 'hello' is registered by both" in result.stderr


def _two_plugins(root: Path) -> None:
    install_attack_plugin(root, "fake-a", "attack_a")
    install_fake(root, "fake-b", ATTACK_PLUGIN.format(attack="attack_b"), entry_point="bee")


@pytest.mark.parametrize(("value", "expected"), [
    (None, {"attack_a", "attack_b"}),
    ("fake-a", {"attack_a"}),
    ("Fake_A", {"attack_a"}),  # distribution names compare as pip compares them
    ("bee", {"attack_b"}),  # the entry-point (plugin) name works too
    ("fake-a, fake-b", {"attack_a", "attack_b"}),
    ("", set()),  # set but empty: no third-party plugin
    (" , ", set()),
])
def test_load_plugins_selects_distributions(
    root: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, expected: set[str]
) -> None:
    _two_plugins(root)
    if value is not None:
        monkeypatch.setenv("PHYSSIM_LOAD_PLUGINS", value)
    assert {"attack_a", "attack_b"} & set(get_attacks()) == expected


def test_disable_plugins_blocks_by_name(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _two_plugins(root)
    monkeypatch.setenv("PHYSSIM_DISABLE_PLUGINS", "bee,physsim.builtin")
    attacks = get_attacks()
    assert "attack_a" in attacks and "attack_b" not in attacks
    assert pm.is_blocked("physsim.builtin") and not pm.has_plugin("physsim.builtin")
    assert all(e.plugin not in ("bee", "physsim.builtin") for e in all_entries())


def test_disable_plugins_blocks_a_distribution(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_plugins(root)
    monkeypatch.setenv("PHYSSIM_DISABLE_PLUGINS", "Fake_B")
    assert {"attack_a", "attack_b"} & set(get_attacks()) == {"attack_a"}


def test_reset_plugins_forgets_plugins_and_blocks(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_attack_plugin(root, "fake-a", "attack_a")
    monkeypatch.setenv("PHYSSIM_DISABLE_PLUGINS", "physsim.builtin")
    load_plugins()
    assert pm.has_plugin("fake_a") and pm.is_blocked("physsim.builtin")
    reset_plugins()
    assert pm.get_plugins() == set() and not pm.is_blocked("physsim.builtin")
    monkeypatch.delenv("PHYSSIM_DISABLE_PLUGINS")
    load_plugins()
    assert pm.has_plugin("fake_a") and pm.has_plugin("physsim.builtin")


def test_example_package_registers_rfgsm(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/plugins/physsim-example, found through its entry point as if pip-installed."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    install_fake(root, "physsim-example", "", version="0.1.0", entry_point="example")
    (root / "physsim_example.py").unlink()  # the package comes from the docs folder
    attack = get_attacks()["rfgsm"]
    assert attack.__module__ == "physsim_example.rfgsm"
    row = {"name": "rfgsm", "kind": "attack", "plugin": "example", "version": "0.1.0",
           "status": "ok"}
    assert row in _json_rows("--kind", "attack")


def test_example_package_passes_its_own_tests() -> None:
    """The example's tests/test_rfgsm.py, run as its README says (source on PYTHONPATH here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHYSSIM_")}
    env["PYTHONPATH"] = str(EXAMPLE)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- one test per remaining hook, through a plugin object registered with the manager -------


class _Defense(InputTransform):
    name = "test_hook_defense"

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Classifier(Classifier):
    name = "test_hook_classifier"

    @classmethod
    def create(cls, options: Any = None) -> Classifier:
        cls.parse(options)
        return linear_toy_classifier()


class _Transform(Transform):
    name = "test_hook_transform"

    def sample(self, n: int, generator: torch.Generator) -> Params:
        return {"gain": torch.ones(n)}

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        return images * params["gain"].view(-1, 1, 1, 1)


class _Object(PhysicalObject):
    name = "test_hook_object"
    label = "class0"
    size_mm = (100.0, 100.0)

    def load(self) -> ObjectTexture:
        return ObjectTexture(torch.ones(4, 8, 8), torch.ones(1, 8, 8), self.size_mm, self.label,
                             self.name)


@click.command("test-hook-hello")
def _hello() -> None:
    click.echo("hello from a plugin")


class _KindsPlugin:
    """Implements every hook except register_attacks (tested through an entry point above)."""

    def __init__(self, scene: Path) -> None:
        self.scene = scene
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    @hookimpl
    def register_defenses(self, register: Callable[[Any], None]) -> None:
        register(_Defense)

    @hookimpl
    def register_classifiers(self, register: Callable[[Any], None]) -> None:
        register(_Classifier)

    @hookimpl
    def register_transforms(self, register: Callable[[Any], None]) -> None:
        register(_Transform)

    @hookimpl
    def register_objects(self, register: Callable[[Any], None]) -> None:
        register(_Object)

    @hookimpl
    def register_scenes(self, register: Callable[[str, Path], None]) -> None:
        register("test_hook_scene", self.scene)

    @hookimpl
    def register_commands(self, register: Callable[[click.Command], None]) -> None:
        register(_hello)

    @hookimpl
    def on_run_start(self, scenario: Any) -> None:
        self.calls.append(("on_run_start", (scenario,)))

    @hookimpl
    def on_run_end(self, scenario: Any, result: Any) -> None:
        self.calls.append(("on_run_end", (scenario, result)))


@pytest.fixture
def kinds(root: Path) -> _KindsPlugin:
    scene = root / "test_hook_scene.yaml"
    scene.write_text("name: test_hook_scene\n")
    plugin = _KindsPlugin(scene)
    load_plugins()
    pm.register(plugin, name="test_kinds")
    return plugin


def _assert_listed(kind: str, name: str, obj: Any) -> None:
    [entry] = [e for e in entries(kind) if e.name == name]
    assert (entry.obj, entry.plugin, entry.status) == (obj, "test_kinds", "ok")
    assert lookup(kind, name) == obj
    assert any(r["name"] == name and r["kind"] == kind for r in _json_rows("--kind", kind))


def test_hook_register_defenses(kinds: _KindsPlugin) -> None:
    assert get_defenses()["test_hook_defense"] is _Defense
    _assert_listed("defense", "test_hook_defense", _Defense)


def test_hook_register_classifiers(kinds: _KindsPlugin) -> None:
    assert get_classifiers()["test_hook_classifier"] is _Classifier
    _assert_listed("classifier", "test_hook_classifier", _Classifier)


def test_hook_register_transforms(kinds: _KindsPlugin) -> None:
    assert get_transforms()["test_hook_transform"] is _Transform
    _assert_listed("transform", "test_hook_transform", _Transform)


def test_hook_register_objects(kinds: _KindsPlugin) -> None:
    assert get_objects()["test_hook_object"] is _Object
    _assert_listed("object", "test_hook_object", _Object)


def test_hook_register_scenes(kinds: _KindsPlugin) -> None:
    assert get_scenes()["test_hook_scene"] == kinds.scene
    _assert_listed("scene", "test_hook_scene", kinds.scene)


def test_hook_register_commands(kinds: _KindsPlugin) -> None:
    assert get_commands()["test-hook-hello"] is _hello
    result = CliRunner().invoke(cli, ["test-hook-hello"])
    assert result.exit_code == 0 and result.stdout == "hello from a plugin\n"
    assert "test-hook-hello" in CliRunner().invoke(cli, ["--help"]).stdout


def test_registered_component_needs_a_name(root: Path) -> None:
    install_fake(root, "fake-nameless", """
        from physsim.attack import Attack
        from physsim.hookspecs import hookimpl

        class Nameless(Attack):
            def perturb(self, *args, **kwargs):
                raise NotImplementedError

        @hookimpl
        def register_attacks(register):
            register(Nameless)
    """)
    with pytest.warns(UserWarning, match="'fake_nameless' failed to load: TypeError: .*name"):
        get_attacks()


@pytest.mark.parametrize(("hook", "call", "error"), [
    # an instance would be listed as ok and fail with a traceback when a scene used it
    ("register_attacks", "register(Instance())", "TypeError: register the attack's class, not"),
    # any object with a `name` used to pass, and broke `physsim --help` for everyone
    ("register_commands", "register(Instance)", "TypeError: register_commands registers click"),
    ("register_scenes", "register(42, 'x.yaml')", "TypeError: a registered scene needs a non-"),
    ("register_scenes", "register('s', 42)", "TypeError: scene 's': the path must be a str"),
    # one plugin registering a name twice used to be blamed on a clash between two plugins
    ("register_attacks", "register(Instance); register(Instance)",
     "ValueError: it registers the attack 'inst' twice"),
    # returning the classes instead of registering them used to register nothing, silently
    ("register_attacks", "return [Instance]", "TypeError: register_attacks returned list: it"),
])
def test_what_register_refuses_marks_the_plugin_broken(root: Path, hook: str, call: str,
                                                        error: str) -> None:
    install_attack_plugin(root, "fake-good", "fake_good_attack")
    install_fake(root, "fake-wrong", f"""
        from physsim.attack import Attack
        from physsim.hookspecs import hookimpl

        class Instance(Attack):
            name = "inst"

            def perturb(self, *args, **kwargs):
                raise NotImplementedError

        @hookimpl
        def {hook}(register):
            {call}
    """)
    with pytest.warns(UserWarning, match="'fake_wrong' failed to load"):
        rows = all_entries()
    [broken] = [b for b in broken_plugins() if b.name == "fake_wrong"]
    assert broken.error.startswith(error), broken.error
    assert not [e for e in rows if e.plugin == "fake_wrong" and e.status == "ok"]
    assert "fake_good_attack" in get_attacks()
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0


def test_a_clash_between_two_plugins_leaves_the_run_manifest_alone(root: Path) -> None:
    # the manifest lists the loaded plugins; it used to build every registry, so a clash in
    # one the run never used (here: scenes) failed the run after its attack and evaluation
    for dist in ("fake-one", "fake-two"):
        install_fake(root, dist, """
            from physsim.hookspecs import hookimpl

            @hookimpl
            def register_scenes(register):
                register("same_scene", "same.yaml")
        """, version="2.0")
    with pytest.raises(DuplicateNameError):
        get_scenes()
    plugins = loaded_plugins()
    assert plugins["fake_one"] == plugins["fake_two"] == "2.0"
    assert "physsim_attacks" in plugins and "fake_broken" not in plugins


def test_a_broken_plugin_is_one_line_and_its_traceback_is_under_debug(root: Path) -> None:
    install_fake(root, "fake-broken", """
        def helper():
            raise RuntimeError("boom; second line")

        helper()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path]),
           "PHYSSIM_LOAD_PLUGINS": "fake-broken"}
    plain = subprocess.run([sys.executable, "-m", "physsim", "plugins", "--kind", "plugin"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.splitlines() == [
        "Warning: physsim plugin 'fake_broken' failed to load: RuntimeError: boom; second line"]
    debug = subprocess.run([sys.executable, "-m", "physsim", "--debug", "plugins", "--kind",
                            "plugin"], capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode == 0, debug.stderr
    # the author's own file and function, which the one line leaves out
    assert "fake_broken.py" in debug.stderr and "in helper" in debug.stderr
    assert "fake_broken" in debug.stdout


# physsim.runner.run_scene fires the run observers, but a whole run needs every built-in (EOT
# pipeline, objects) working; these call the hooks the way the runner does, by keyword through
# pm.hook. A runner test should also check that one run calls each observer exactly once.


def test_hook_on_run_start(kinds: _KindsPlugin) -> None:
    scenario = object()
    pm.hook.on_run_start(scenario=scenario)
    assert kinds.calls == [("on_run_start", (scenario,))]


def test_hook_on_run_end(kinds: _KindsPlugin) -> None:
    scenario, result = object(), object()
    pm.hook.on_run_end(scenario=scenario, result=result)
    assert kinds.calls == [("on_run_end", (scenario, result))]
