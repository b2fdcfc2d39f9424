"""Run directories are never overwritten, and unfinished runs never look finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from physsim import rundir
from physsim.errors import UserError


def test_start_refuses_existing_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match="never overwritten"):
        rundir.start(run)
    assert (run / "metrics.json").read_text() == "{}"


def test_work_happens_in_partial_until_finish(tmp_path: Path) -> None:
    run = tmp_path / "run"
    work = rundir.start(run)
    assert work.name == "run.partial" and not run.exists()
    rundir.write_json(work / "metrics.json", {"a": 1})
    with pytest.raises(UserError, match=r"unfinished run is here.*--resume"):
        rundir.start(run)
    rundir.finish(run)
    assert json.loads((run / "metrics.json").read_text()) == {"a": 1}
    assert not work.exists()


def test_default_run_dir_is_fresh(tmp_path: Path) -> None:
    first = rundir.default_run_dir("scene", tmp_path)
    first.mkdir()
    second = rundir.default_run_dir("scene", tmp_path)
    assert second != first and not second.exists()


@pytest.mark.parametrize(("name", "folder"), [
    ("../../etc/x", "_.._etc_x"), ("my scene", "my_scene"), (".hidden", "hidden"), ("/", "_"),
    ("..", "scene")])
def test_default_run_dir_stays_under_its_root(tmp_path: Path, name: str, folder: str) -> None:
    path = rundir.default_run_dir(name, tmp_path)
    assert path.parent == tmp_path and path.name.startswith(f"{folder}-")


def test_manifest_has_versions_and_seed() -> None:
    man = rundir.manifest(7, "cpu", {"physsim.builtin": "0.1.0"})
    assert man["seed"] == 7 and man["device"] == "cpu"
    assert {"torch", "kornia", "physsim", "git_commit", "plugins"} <= man.keys()



def test_reopen_finds_the_partial_of_an_interrupted_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    work = rundir.start(run)
    with pytest.raises(UserError, match="no interrupted run here"):
        rundir.reopen(run)
    rundir.write_json(work / rundir.RESUME_INFO, {"scene_file": "s.yaml", "steps": None})
    (work / "scene.yaml").write_text("name: s\n")
    for given in (run, work):
        assert rundir.reopen(given) == (run, work, {"scene_file": "s.yaml", "steps": None})
    rundir.write_json(work / "manifest.json", rundir.manifest(0, "cpu", {}))  # as a report does
    rundir.finish(run)
    with pytest.raises(UserError, match="finished already"):
        rundir.reopen(run)


def test_reopen_of_a_directory_that_is_no_run_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"not a physsim run \(no manifest.json\)") as exc:
        rundir.reopen(tmp_path)
    assert str(tmp_path) in str(exc.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("record", ["{bad json", "[]", '{"scene_file": "s.yaml"}',
                                    '{"scene_file": "s.yaml", "steps": "ten"}',
                                    '{"scene_file": 3, "steps": null}'])
def test_reopen_refuses_a_damaged_resume_record(tmp_path: Path, record: str) -> None:
    run = tmp_path / "run"
    work = rundir.start(run)
    (work / "scene.yaml").write_text("name: s\n")
    (work / rundir.RESUME_INFO).write_text(record)
    with pytest.raises(UserError, match=r"resume.json: (cannot read the|not a) resume record"):
        rundir.reopen(run)


def test_a_run_directory_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(UserError, match=r"a_file/run: cannot create the run directory \(Not a "
                                        r"directory\)"):
        rundir.start(tmp_path / "a_file" / "run")
    assert (tmp_path / "a_file").read_text() == "mine"


def test_a_second_process_cannot_work_on_a_run_in_progress(tmp_path: Path) -> None:
    work = rundir.start(tmp_path / "run")
    code = ("import sys; from pathlib import Path; from physsim import rundir\n"
            "from physsim.errors import UserError\n"
            "try:\n    rundir.lock(Path(sys.argv[1]))\n"
            "except UserError as exc:\n    print(exc)\n")
    other = subprocess.run([sys.executable, "-c", code, str(work)], capture_output=True,
                           text=True, timeout=60)
    assert "another physsim process is working on this run" in other.stdout, other.stderr
    (work / "manifest.json").write_text("{}")
    rundir.finish(tmp_path / "run")  # releases it, and leaves no lock file in the run
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["manifest.json"]


def test_a_folder_made_at_the_run_directory_meanwhile_keeps_the_finished_files(
        tmp_path: Path) -> None:
    work = rundir.start(tmp_path / "run")
    (work / "metrics.json").write_text("{}")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    # this used to be an OSError traceback (directory not empty)
    with pytest.raises(UserError, match=r"run: cannot give the finished run its name .*: its "
                                        r"files are complete in .*run\.partial; move that"):
        rundir.finish(tmp_path / "run")
    assert (work / "metrics.json").is_file()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes.txt"]
