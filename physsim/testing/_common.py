"""Helpers shared by the contract classes."""

from __future__ import annotations

from typing import Any

import pytest

from physsim.errors import UserError


def _options_reject_unknown_keys(cls: Any, options: dict[str, Any]) -> None:
    with pytest.raises(UserError, match="physsim_no_such_option"):
        cls({**options, "physsim_no_such_option": 1})
