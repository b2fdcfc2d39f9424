"""The ``physsim`` command line. It calls the library's functions and nothing else."""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import click

from physsim import __version__
from physsim.errors import UserError

KIND_CHOICES = ("attack", "defense", "classifier", "transform", "object", "scene", "command",
                "plugin")


class PhyssimGroup(click.Group):
    """A click group that turns :class:`UserError` into one line and exit status 2.

    It also adds the commands that plugins register, loading plugins only when a command
    that is not built in is asked for (so ``physsim --version`` stays fast).
    """

    #: core commands defined in their own modules, imported only when used (they pull in torch)
    LAZY: ClassVar[dict[str, str]] = {
        "eval-classifier": "physsim.classifier_eval:eval_classifier_cmd",
        "print": "physsim.printing.command:print_cmd",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        from physsim.plugins import get_commands

        try:
            extra = get_commands()
        except UserError as exc:
            # `physsim --help` runs outside invoke(); it must still work when plugins clash
            click.echo(f"Error: {exc}", err=True)
            extra = {}
        return sorted({*super().list_commands(ctx), *self.LAZY, *extra})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        if cmd_name in self.LAZY:
            module, attr = self.LAZY[cmd_name].split(":")
            lazy: click.Command = getattr(importlib.import_module(module), attr)
            return lazy
        from physsim.plugins import get_commands

        cmd = get_commands().get(cmd_name)
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            # a command's bad option or argument, or an unknown command: one line, as a
            # UserError is, instead of click's usage block (the group's own options, parsed
            # before this, keep click's format)
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            message = exc.format_message().rstrip(".")
            click.echo(f"Error: {message} (see '{where} --help')", err=True)
            ctx.exit(2)


@click.group(cls=PhyssimGroup)
@click.version_option(__version__, prog_name="physsim")
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors too.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Simulate physical adversarial attacks on image classifiers."""
    from physsim.allocator import retain_freed_memory

    retain_freed_memory()  # every step reuses its memory (PHYSSIM_MALLOC=system: off)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Only components of this kind.")
def plugins_cmd(as_json: bool, kind: str | None) -> None:
    """List the registered components and the plugins that provide them.

    With ``physsim --debug plugins``, each broken plugin's traceback follows on stderr.
    """
    from physsim.plugins import all_entries, broken_plugins

    rows = all_entries(kind)
    ctx = click.get_current_context()
    if ctx.obj and ctx.obj.get("debug"):
        for broken in broken_plugins():
            click.echo(f"plugin {broken.name!r} failed to load:\n{broken.traceback}", err=True)
    if as_json:
        keys = ("name", "kind", "plugin", "version", "status")
        click.echo(json.dumps([{k: getattr(e, k) for k in keys} for e in rows], indent=2))
        return
    if not rows:
        click.echo("no components registered")
        return
    width = max(len(e.name) for e in rows)
    for e in rows:
        status = "" if e.status == "ok" else f"  [{e.status}]"
        click.echo(f"{e.kind:<10} {e.name:<{width}}  {e.plugin} {e.version}{status}")


@cli.command("new-plugin")
@click.argument("name")
@click.option("--kind", type=click.Choice(["attack", "defense", "classifier", "transform"]),
              default="attack", show_default=True, help="What the plugin registers.")
@click.option("-o", "--output", "parent", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Folder in which to create the package folder.")
def new_plugin_cmd(name: str, kind: str, parent: Path) -> None:
    """Scaffold a plugin package NAME that passes its own tests after `pip install -e`."""
    from physsim.scaffold import new_plugin

    path = new_plugin(name, kind, parent)
    click.echo(f"created {path}")
    click.echo(f"next: pip install -e {path} && pytest {path}")


@cli.command("run")
@click.argument("scene", required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Run directory to create (default: runs/<scene>-<timestamp>).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1),  # physsim.scene.SEED_MAX
              default=None, help="Override the scene's seed.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (overrides the scene).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Override the attack's number of steps.")
@click.option("--resume", type=click.Path(path_type=Path), default=None,
              help="Finish the interrupted run in this directory (it keeps its own scene "
                   "and options).")
def run_cmd(scene: str | None, output: Path | None, seed: int | None, device: str | None,
            steps: int | None, resume: Path | None) -> None:
    """Run SCENE (a registered scene name or a YAML file) and write a run directory.

    Ctrl-C or a kill leaves a checkpoint in DIR.partial; `physsim run --resume DIR` finishes
    the run with the same result as an uninterrupted one.
    """
    from physsim.runner import Interrupted, run_scene

    if resume is not None and (scene, seed, device, steps, output) != (None,) * 5:
        raise click.UsageError("--resume takes no SCENE and no other options: the run keeps "
                               "its own")
    if scene is None and resume is None:
        raise click.UsageError("give a SCENE, or --resume DIR")
    try:
        run_dir = run_scene(scene or "", output=output, seed=seed, device=device, steps=steps,
                            resume=resume)
    except Interrupted as exc:
        click.echo(f"Interrupted: the checkpoint is in {exc.partial}; finish the run with: "
                   f"physsim run --resume {exc.run_dir}", err=True)
        raise SystemExit(130) from None
    click.echo(f"run directory: {run_dir}")




def _format_warning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, line: str | None = None) -> str:
    """A warning is one line, without the file and source line Python adds: physsim's own
    (a plugin that failed to load, a run file missing) are for users, who cannot act on
    physsim's source. A plugin's traceback: ``physsim --debug plugins``."""
    if issubclass(category, UserWarning):
        return f"Warning: {message}\n"
    return f"Warning: {category.__name__}: {message}\n"


def main() -> None:
    """Entry point of the ``physsim`` console script and ``python -m physsim``."""
    warnings.formatwarning = _format_warning
    cli(prog_name="physsim")


if __name__ == "__main__":  # pragma: no cover
    main()
