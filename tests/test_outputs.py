"""Output files: refused before any work when they cannot or must not be written, and
written whole or not at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from physsim.errors import UserError
from physsim.outputs import check_output, write_atomic, write_json, write_together


def test_a_new_file_in_an_existing_folder_is_fine(tmp_path: Path) -> None:
    check_output(tmp_path / "out.json", "--json")


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "nowhere" / "out.json", "--json: the folder .*nowhere does not exist"),
    (lambda d: d, "--json: this is a folder; give a file name"),
])
def test_impossible_outputs(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match=message):
        check_output(make(tmp_path), "--json", force=True)


def test_an_existing_file_needs_force_and_an_input_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("earlier")
    with pytest.raises(UserError, match=r"out.json: --json: exists already \(add --force"):
        check_output(out, "--json")
    check_output(out, "--json", force=True)
    with pytest.raises(UserError, match="an input of the command; it is never overwritten"):
        check_output(out, "--json", force=True, inputs=(None, tmp_path / ".." / tmp_path.name
                                                        / "out.json"))
    assert out.read_text() == "earlier"


def test_write_atomic_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    write_atomic(out, b"whole")
    assert out.read_bytes() == b"whole" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out.bin"]
    write_json(tmp_path / "out.json", {"a": [1, 2.5]})
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": [1, 2.5]}
    (tmp_path / "out.json").unlink()
    (tmp_path / "dir.bin").mkdir()  # the rename onto a folder fails
    with pytest.raises(UserError, match=r"dir\.bin: cannot write"):
        write_atomic(tmp_path / "dir.bin", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.bin", "out.bin"]


def test_files_written_together_are_all_or_none(tmp_path: Path) -> None:
    # a file of the user's named like a temporary file is left alone (a fixed "NAME.part"
    # used to be overwritten, and a folder of that name raised IsADirectoryError)
    (tmp_path / "a.png.part").mkdir()
    (tmp_path / "b.json").write_bytes(b"earlier")
    (tmp_path / "c").mkdir()  # the rename onto a folder fails, after a.png and b.json
    with pytest.raises(UserError, match=r"c: cannot write"):
        write_together({tmp_path / "a.png": b"png", tmp_path / "b.json": b"new",
                        tmp_path / "c": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png.part", "b.json", "c"]
    assert (tmp_path / "b.json").read_bytes() == b"earlier"
    write_together({tmp_path / "a.png": b"png", tmp_path / "b.json": b"new"})
    assert (tmp_path / "a.png").read_bytes() == b"png"
    assert (tmp_path / "b.json").read_bytes() == b"new"
    umask = os.umask(0o22)
    os.umask(umask)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_folder_that_takes_no_new_file_is_found_before_the_work() -> None:
    # eval-classifier found this only after evaluating (root may write almost anywhere,
    # but not in /proc)
    with pytest.raises(UserError, match=r"x\.json: --json: cannot write in /proc/self"):
        check_output(Path("/proc/self/x.json"), "--json")
