"""Component options: unknown keys, and true/false kept apart from numbers."""

from __future__ import annotations

from typing import Literal

import pytest

from physsim.errors import UserError
from physsim.options import Options, parse_options


class _Opts(Options):
    steps: int = 3
    scale: float = 1.0
    pair: tuple[float, float] = (0.0, 1.0)
    target: str | int | None = None
    flag: bool = False
    mode: bool | Literal["both"] = "both"
    anything: object = None


def test_valid_options_pass_and_keep_their_types() -> None:
    o = parse_options(_Opts, {"steps": 5, "scale": 2, "pair": [0, 0.5], "target": "stop",
                              "flag": True, "mode": False, "anything": True}, "opts")
    assert (o.steps, o.scale, o.pair, o.target, o.flag, o.mode, o.anything) == (
        5, 2.0, (0.0, 0.5), "stop", True, False, True)
    assert parse_options(_Opts, {"target": 3, "mode": "both"}, "opts").target == 3


@pytest.mark.parametrize(("given", "message"), [
    ({"steps": True}, "steps: expected a number, got true or false"),
    ({"scale": False}, "scale: expected a number, got true or false"),
    ({"pair": [0.0, True]}, "pair: expected a number, got true or false"),
    ({"target": True}, "target: expected a name or a number, got true or false"),
    ({"flag": 1}, "flag: expected true or false, got 1"),
    ({"mode": 0.0}, "mode: expected true, false or 'both', got 0.0"),
    ({"stepz": 3}, "stepz: unknown option"),
])
def test_true_false_and_numbers_are_not_mixed(given: dict, message: str) -> None:
    with pytest.raises(UserError, match=f"^opts: {message}$"):
        parse_options(_Opts, given, "opts")
