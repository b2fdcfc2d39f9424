"""docs/eot.md's Python examples run as written, and its command-line examples parse."""

from __future__ import annotations

import shlex
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from physsim.cli import cli

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "eot.md"


def _blocks(kind: str) -> list[str]:
    """The guide's fenced blocks whose info string is ``kind`` ("" for plain ones)."""
    blocks, current, lang = [], [], None
    for line in GUIDE.read_text().splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, current = line[3:].strip(), []
            else:
                if lang == kind:
                    blocks.append("\n".join(current) + "\n")
                lang = None
        elif lang is not None:
            current.append(line)
    return blocks


def test_the_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    for code in blocks:  # the second example goes on from the first
        exec(compile(code, str(GUIDE), "exec"), namespace)
    # what the first example promises: a 2x2 contact sheet, params on disk, a gradient
    sheet = cv2.imread("sheet.png")
    assert sheet is not None and sheet.shape[1] == 2 * 128  # 64 px tiles shown twice as large
    assert Path("params.json").is_file()
    assert capsys.readouterr().out.strip() == "torch.Size([1, 4, 512, 512]) True"
    params = namespace["params"]
    assert params.flat()["pose.distance_m"].tolist() == [2.0, 4.0, 8.0, 12.0]  # type: ignore[attr-defined]
    grads = namespace["grads"]
    assert isinstance(grads, list) and float(grads[0].abs().sum()) > 0


def test_the_preview_commands_are_valid() -> None:
    block = next(b for b in _blocks("") if "eot-preview" in b)
    commands = [line.split("#")[0].split() for line in block.splitlines() if line.strip()]
    assert commands and all(c[:2] == ["physsim", "eot-preview"] for c in commands)
    for args in commands:
        # every option the guide shows exists (--help after them stops before any work)
        result = CliRunner().invoke(cli, [*shlex.split(" ".join(args[1:])), "--help"])
        assert result.exit_code == 0, (args, result.output)
