"""Scene files: strict schema, one-line errors naming file and field, name resolution."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from toy_plugin import toy_plugin

from physsim.errors import UserError
from physsim.scene import load_scene, parse_scene

BASE = {
    "name": "toy",
    "classifier": {"name": "toy_linear"},
    "data": {"n": 8},
    "attack": {"name": "fgsm", "budget": {"eps": 0.05, "steps": 1}},
}


@pytest.fixture(autouse=True)
def _toy() -> Iterator[None]:
    with toy_plugin():
        yield


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_scene_loads(tmp_path: Path) -> None:
    scene, path = load_scene(write(tmp_path, BASE))
    assert scene.name == "toy" and scene.attack is not None
    assert scene.attack.budget.eps == 0.05 and path.name == "scene.yaml"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": 1}, "colour: unknown option"),
        ({"attack": {"name": "fgsm", "budget": {"eps": -1}}}, "attack.budget.eps"),
        ({"attack": {"name": "fgsm", "budget": {"steps": 0}}}, "attack.budget.steps"),
        ({"attack": {"name": "fgsm", "mode": "targeted"}}, "needs `target`"),
        ({"attack": {"name": "fgsm", "mode": "sideways"}}, "attack.mode"),
        ({"seed": "abc"}, "seed"),
        ({"attack": {"name": "no_such_attack"}}, "unknown attack 'no_such_attack' \\(available: "),
        ({"classifier": {"name": "nope"}}, "classifier.name: unknown classifier 'nope'"),
        ({"evaluation": {"grid": {"distance_m": [-1.0]}}}, "distance_m values must be > 0"),
        ({"evaluation": {"grid": {"yaw_deg": [95.0]}}}, "face away"),
        ({"object": {"name": "stop_sign"}}, "exactly one of `object`"),
        ({"data": None, "patch": {"objects": []}}, "patch.objects"),
        ({"data": None, "patch": {"objects": ["a"], "size": 0.2, "face_area": 0.1}},
         "patch: .*give size or face_area, not both"),
        ({"data": None, "patch": {"objects": ["a"], "face_area": 1.5}}, "patch.face_area"),
    ],
)
def test_bad_scene_is_one_line_naming_file_and_field(tmp_path: Path, patch: dict,
                                                     message: str) -> None:
    path = write(tmp_path, {**BASE, **patch})
    with pytest.raises(UserError, match=message) as info:
        load_scene(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nclassifier: [unclosed\n")
    with pytest.raises(UserError, match=r"bad.yaml:\d+: not valid YAML"):
        load_scene(path)


def test_missing_file_and_unknown_scene_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="scene file not found"):
        load_scene(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match=r"unknown scene 'no_such_scene' \(available: .*stop_sign"):
        load_scene("no_such_scene")


def test_not_a_mapping() -> None:
    with pytest.raises(UserError, match="must be a YAML mapping"):
        parse_scene([1, 2], "x.yaml")


def test_every_shipped_scene_validates() -> None:
    from physsim.builtin import builtin_scene_dir

    paths = sorted(builtin_scene_dir().glob("*.yaml"))
    assert any(p.stem == "stop_sign_sticker" for p in paths)
    for path in paths:
        scene, _ = load_scene(path)
        assert scene.name == path.stem
