"""Files a command writes: checked before the work, written whole or not at all.

A command that computes for minutes and then finds it cannot write its result has wasted the
minutes, and one that overwrites an earlier result has lost it. :func:`check_output` refuses
both up front; :func:`write_atomic` writes through a temporary file and a rename, so an
interrupted write never leaves half a file under the real name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from physsim.errors import UserError


def check_output(path: Path, flag: str, force: bool = False,
                 inputs: tuple[Path | None, ...] = ()) -> None:
    """Refuse an output ``path`` (given by option ``flag``) that cannot or must not be written.

    Raises:
        UserError: its folder does not exist; it is a folder; it exists and ``force`` is not
            set; or it is one of ``inputs`` (even with ``force``: a command never writes over
            what it reads).
    """
    if not path.parent.resolve().is_dir():
        raise UserError(f"{flag}: the folder {path.parent} does not exist", str(path))
    if path.is_dir():
        raise UserError(f"{flag}: this is a folder; give a file name", str(path))
    for given in inputs:
        if given is not None and path.exists() and given.exists() and path.samefile(given):
            raise UserError(f"{flag}: this is an input of the command; it is never "
                            "overwritten", str(path))
    if path.exists() and not force:
        raise UserError(f"{flag}: exists already (add --force to overwrite it)", str(path))


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, through :func:`write_atomic`."""
    write_atomic(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` through a temporary file and a rename: never half a file at ``path``."""
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write: {exc.strerror or exc}", str(path)) from None
