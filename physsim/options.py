"""The options schema every registered component declares.

A component's ``Options`` is a pydantic model that rejects unknown keys, so a misspelt option in
a scene file fails with a message naming it instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from physsim.errors import UserError

OptionsT = TypeVar("OptionsT", bound="Options")


class Options(BaseModel):
    """Base class of every component's options: frozen, and unknown keys are an error."""

    # no infinite or NaN number passes (a range to infinity, a step size of NaN)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def describe_validation_error(exc: ValidationError) -> str:
    """One line for the first problem pydantic found: ``field.path: what was expected``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown option"
    return f"{loc}: {msg}" if loc else msg


def parse_options(
    schema: type[OptionsT], value: Mapping[str, Any] | OptionsT | None, where: str
) -> OptionsT:
    """Validate ``value`` against ``schema``; a bad value raises one-line :class:`UserError`.

    Args:
        schema: the component's ``Options`` class.
        value: a mapping (from a scene file or keyword arguments), an instance, or None.
        where: what the options belong to, e.g. ``"attack 'fgsm' options"``.
    """
    if isinstance(value, schema):
        return value
    try:
        return schema.model_validate(dict(value or {}))
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc), where) from None
