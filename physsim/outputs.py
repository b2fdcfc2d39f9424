"""Files a command writes: checked before the work, written whole or not at all.

A command that computes for minutes and then finds it cannot write its result has wasted the
minutes, and one that overwrites an earlier result has lost it. :func:`check_output` refuses
both up front; :func:`write_atomic` writes through a temporary file and a rename, so an
interrupted write never leaves half a file under the real name.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from physsim.errors import UserError


def check_output(path: Path, flag: str, force: bool = False,
                 inputs: tuple[Path | None, ...] = ()) -> None:
    """Refuse an output ``path`` (given by option ``flag``) that cannot or must not be written.

    Raises:
        UserError: its folder does not exist or takes no new file; it is a folder; it exists
            and ``force`` is not set; or it is one of ``inputs`` (even with ``force``: a
            command never writes over what it reads).
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
    try:  # a folder that refuses new files (read-only, /sys...): found now, not after the work
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    except OSError as exc:
        raise UserError(f"{flag}: cannot write in {path.parent} ({exc.strerror or exc})",
                        str(path)) from None
    os.close(fd)
    os.unlink(probe)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, through :func:`write_atomic`."""
    write_atomic(path, json_bytes(data))


def json_bytes(data: Any) -> bytes:
    """``data`` as the indented JSON :func:`write_json` writes."""
    return (json.dumps(data, indent=2, default=str) + "\n").encode()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` through a temporary file and a rename: never half a file at ``path``."""
    write_together({path: data})


def write_together(files: dict[Path, bytes]) -> None:
    """Write several files all or none: each to a temporary file of its own beside it (a
    fresh name, so no file of the user's is touched), and only when every one is written,
    each renamed to its place (a target that is a folder is refused before any rename). A
    failure removes the temporary files and raises :class:`UserError` naming the file."""
    done: list[tuple[Path, Path]] = []
    umask = os.umask(0o22)
    os.umask(umask)
    current = next(iter(files), Path())
    try:
        for path, data in files.items():
            current = path
            if path.is_dir():  # the one way a rename in a writable folder fails: found first
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
            done.append((Path(name), path))
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o666 & ~umask)  # as open() would make it, not 0600
                f.write(data)
        for tmp, path in done:
            current = path
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write: {exc.strerror or exc}", str(current)) from None
