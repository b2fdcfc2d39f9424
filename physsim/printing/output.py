"""Where ``physsim print`` writes, and what it may replace there.

One print is a pair: ``NAME.pdf`` and its sidecar ``NAME.json``. The rule for existing files:

- Without ``force`` nothing that exists is replaced, neither the PDF nor the sidecar.
- With ``force`` only an earlier print is replaced: the JSON on the sidecar's path must be a
  print sidecar whose ``"pdf"`` names this PDF. Any other file on either path (a run's own
  ``metrics.json``, ``object.json`` or ``manifest.json``, someone's ``notes.json``, a PDF
  without its print sidecar) is never overwritten. The sidecar's path follows from the PDF's,
  so ``--force`` cannot be read as consent to replace whatever JSON happens to be there.

Everything that can be checked is checked before the rendering work (seconds for a large
sign), and the files are written under ``.partial`` names and renamed into place only once both
are complete, so a failed write leaves no half-written file and the earlier print in place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF

from physsim.errors import UserError

#: only a PDF and its sidecar are ever replaced; tell the user how to get a fresh pair
ELSEWHERE = "choose another -o"


@dataclass(frozen=True)
class Output:
    """The two files of one print: the PDF and its JSON sidecar beside it."""

    pdf: Path
    sidecar: Path

    @property
    def partials(self) -> tuple[Path, Path]:
        """The temporary names the PDF and the sidecar are written under."""
        return (self.pdf.with_name(self.pdf.name + ".partial"),
                self.sidecar.with_name(self.sidecar.name + ".partial"))


def output_paths(run_dir: Path, output: Path | None) -> Output:
    """The PDF (default ``run_dir/print.pdf``) and its sidecar; a UserError for a non-PDF."""
    if output is None:
        output = run_dir / "print.pdf"
    elif output.suffix.lower() != ".pdf":
        raise UserError("the output must be a .pdf file (its .json sidecar goes beside it)",
                        str(output))
    return Output(output, output.with_suffix(".json"))


def is_print_sidecar(path: Path, pdf_name: str) -> bool:
    """Whether ``path`` is the sidecar an earlier print wrote for the PDF ``pdf_name``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable or not JSON: not ours
        return False
    return (isinstance(data, dict) and data.get("pdf") == pdf_name
            and "markers" in data and "pages" in data)


def check_outputs(out: Output, force: bool) -> None:
    """Refuse, before any work, an output that would replace something it must not.

    Raises:
        UserError: a path is a directory, an existing file is not an earlier print (even
            with ``force``), or an earlier print exists and ``force`` is not given.
    """
    for path in (out.pdf, out.sidecar):
        if path.is_dir():
            raise UserError(f"is a directory, not a file; {ELSEWHERE}", str(path))
    ours = out.sidecar.exists() and is_print_sidecar(out.sidecar, out.pdf.name)
    if out.sidecar.exists() and not ours:
        raise UserError(f"exists and is not this PDF's print sidecar; it is never overwritten, "
                        f"even with --force: {ELSEWHERE}", str(out.sidecar))
    if out.pdf.exists() and not ours:
        raise UserError(f"exists and is not an earlier print (no print sidecar "
                        f"{out.sidecar.name} beside it); it is never overwritten, even with "
                        f"--force: {ELSEWHERE}", str(out.pdf))
    if not force:
        for path in (out.pdf, out.sidecar):
            if path.exists():
                raise UserError("exists already; pass --force to overwrite it", str(path))


def _reason(exc: OSError) -> str:
    """``Permission denied``, not ``[Errno 13] Permission denied: '/x/y.partial'``."""
    return exc.strerror or str(exc)


def _folder(pdf: Path) -> None:
    """Create the PDF's folder, or a UserError if a file is in the way or it cannot be made."""
    for parent in pdf.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot write here: {parent} is a file, not a folder",
                                str(pdf))
            break
    try:
        pdf.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create its folder ({_reason(exc)})", str(pdf)) from None


def probe(out: Output) -> None:
    """Prove the files can be written, by creating (and removing) their temporary files.

    Done before rendering so that an unwritable place costs no work; ``os.access`` would not
    do (it says yes to root, also on read-only file systems such as ``/sys``).

    Raises:
        UserError: the folder cannot be created or a file cannot be created in it.
    """
    _folder(out.pdf)
    for path, tmp in zip((out.pdf, out.sidecar), out.partials):
        try:
            tmp.write_bytes(b"")
            tmp.unlink()
        except OSError as exc:
            raise UserError(f"cannot write here ({_reason(exc)})", str(path)) from None


def write_outputs(out: Output, pdf: FPDF, info: dict[str, Any]) -> None:
    """Write the PDF and the sidecar under temporary names, then rename both into place.

    The sidecar is renamed first: a PDF is never there without the sidecar that describes it.

    Raises:
        UserError: a write failed (e.g. the disk is full); no temporary file is left.
    """
    tmp_pdf, tmp_json = out.partials
    target = out.pdf
    try:
        pdf.output(str(tmp_pdf))
        target = out.sidecar
        tmp_json.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp_json, out.sidecar)
        target = out.pdf
        os.replace(tmp_pdf, out.pdf)
    except OSError as exc:
        raise UserError(f"cannot write it ({_reason(exc)})", str(target)) from None
    finally:
        for tmp in (tmp_pdf, tmp_json):
            if not tmp.is_dir():  # a stray folder of that name is not ours to remove
                tmp.unlink(missing_ok=True)
