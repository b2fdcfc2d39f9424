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
        # found before the attack, not as the evaluation starts
        ({"evaluation": {"grid": {"distance_m": [3.0, 2e5]}}},
         "distance_m values must be > 0 and at most 100000"),
        ({"evaluation": {"grid": {"yaw_deg": [95.0]}}}, "face away"),
        ({"object": {"name": "stop_sign"}}, "exactly one of `object`"),
        ({"data": None, "patch": {"objects": []}}, "patch.objects"),
        ({"data": None, "patch": {"objects": ["a"], "size": 0.2, "face_area": 0.1}},
         "patch: .*give size or face_area, not both"),
        ({"data": None, "patch": {"objects": ["a"], "face_area": 1.5}}, "patch.face_area"),
        # found at load, not in the middle of a run
        ({"evaluation": {"grid": {"distance_m": []}}},
         "evaluation.grid.distance_m: List should have at least 1 item"),
        ({"seed": 2**64}, "seed: Input should be less than or equal to 9223372036854775807"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"evaluation": {"grid": {"distance_m": [float("inf")]}}},
         "evaluation.grid.distance_m.0: Input should be a finite number"),
        ({"attack": {"name": "fgsm", "budget": {"eps": float("nan")}}},
         "attack.budget.eps: Input should be a finite number"),
        ({"data": None, "object": {"name": "stop_sign"},
          "eot": {"transforms": [{"pose": {"distance_m": [1.5, float("inf")]}}]}},
         "eot.transforms\\[0\\].pose.distance_m.1: Input should be a finite number"),
        # pydantic's "Value error, " prefix is not shown
        ({"evaluation": {"grid": {"yaw_deg": [95.0]}}}, ": evaluation.grid: yaw_deg values"),
        # true read as 1 and 1 as true: each of these ran (target: true against class 1)
        ({"attack": {"name": "fgsm", "mode": "targeted", "target": True}},
         "attack.target: expected a name or a number, got true or false"),
        ({"seed": True}, ": seed: expected a number, got true or false"),
        ({"evaluation": {"grid": {"draws": True}}},
         "evaluation.grid.draws: expected a number, got true or false"),
        ({"evaluation": {"grid": {"distance_m": [1.5, True]}}},
         "evaluation.grid.distance_m: expected a number, got true or false"),
        ({"adaptive": 1}, "adaptive: expected true, false or 'both', got 1"),
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


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    with path.open("a") as f:  # a second attack at the end would silently win
        f.write("attack: {name: bim, budget: {steps: 2}}\n")
    line = len(path.read_text().splitlines())
    with pytest.raises(UserError, match=rf"scene.yaml:{line}: not valid YAML \(duplicate key "
                                        r"'attack'\)"):
        load_scene(path)


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scene.yaml"
    path.write_bytes(b"\xff\xfe\x00name: x\n" + bytes(range(128, 256)))
    with pytest.raises(UserError, match=r"scene.yaml: not a UTF-8 text file$"):
        load_scene(path)


def test_missing_file_and_unknown_scene_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="scene file not found"):
        load_scene(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match=r"unknown scene 'no_such_scene' \(available: .*stop_sign"):
        load_scene("no_such_scene")


def test_a_folder_is_not_a_scene_but_does_not_hide_a_registered_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("stop_sign_sticker", "mine", "dir.yaml"):
        Path(name).mkdir()  # e.g. a run directory made with -o stop_sign_sticker
    # the registered scene; it used to be "scene file not found"
    assert load_scene("stop_sign_sticker")[0].name == "stop_sign_sticker"
    for name in ("mine", "dir.yaml"):
        with pytest.raises(UserError, match=f"^{name}: this is a folder, not a scene file"):
            load_scene(name)


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
