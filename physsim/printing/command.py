"""The ``physsim print`` command. Imports stay inside the function so the CLI starts fast."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("print")
@click.argument("run_dir", type=click.Path(path_type=Path))
# no dir_okay=False: click would answer a folder with a usage screen, print_run with one line
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="PDF to write (default: RUN_DIR/print.pdf); the .json sidecar goes beside it.")
@click.option("--paper", type=click.Choice(["a4", "letter", "full"]), default="a4",
              show_default=True,
              help="Tile onto A4 or Letter sheets, or one page at the poster's full size.")
@click.option("--marker-mm", type=float, default=60.0, show_default=True,
              help="Side of each of the four ArUco fiducials, in mm.")
@click.option("--force", is_flag=True,
              help="Replace an earlier print (its PDF and .json sidecar); nothing else.")
def print_cmd(run_dir: Path, output: Path | None, paper: str, marker_mm: float,
              force: bool) -> None:
    """Write RUN_DIR's artefact as a PDF at its exact physical size.

    The sign is printed with four ArUco fiducials around it (for later camera evaluation) and
    a 100 mm scale bar on every page; sticker attacks also get a sticker sheet with cut
    outlines. Print at 100 % ("actual size"), never "fit to page".

    An existing PDF or sidecar is replaced only with --force, and only if it is an earlier
    print: the .json must be a print sidecar naming the PDF. Any other file on either path
    (the run's metrics.json, object.json, manifest.json, ...; a PDF without its sidecar) is
    never overwritten, --force or not. The sign's size (RUN_DIR/object.json, else the object,
    else the PNG's DPI) must be above 0 and at most 10000 mm a side.
    """
    from physsim.printing.document import print_run

    result = print_run(run_dir, output, paper=paper, marker_mm=marker_mm, force=force)
    n_stickers = len(result.info["stickers"])
    extra = f", {n_stickers} stickers" if n_stickers else ""
    click.echo(f"wrote {result.pdf} ({result.pages} pages{extra}) and {result.sidecar}")
    click.echo("print at 100 % (actual size) and check that the scale bar measures 100 mm")
