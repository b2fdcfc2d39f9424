"""The options schema every registered component declares.

A component's ``Options`` is a pydantic model that rejects unknown keys, so a misspelt option in
a scene file fails with a message naming it instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from physsim.errors import UserError

OptionsT = TypeVar("OptionsT", bound="Options")


def _admits(tp: Any, kinds: tuple[type, ...]) -> bool:
    """Whether the type ``tp`` (or a type inside it: a union's, a list's) is one of ``kinds``
    (``Any`` admits everything)."""
    if tp is Any or tp in kinds:
        return True
    if get_origin(tp) is Literal:
        return any(isinstance(a, kinds) for a in get_args(tp))
    return any(_admits(a, kinds) for a in get_args(tp) if a is not Ellipsis)


def _strings(tp: Any) -> list[str]:
    """The string literals of a type (``Literal["both"]`` in ``bool | Literal["both"]``)."""
    if get_origin(tp) is Literal:
        return [a for a in get_args(tp) if isinstance(a, str)]
    return [v for a in get_args(tp) for v in _strings(a)]


def _holds_bool(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_bool(v) for v in value)
    return isinstance(value, bool)


class NoBoolNumbers(BaseModel):
    """Pydantic reads true as 1 for a number, and 1 as true for a flag: a ``target: true``
    ran against class 1, and ``seed: true`` with seed 1. A model deriving from this refuses
    both, field by field."""

    @field_validator("*", mode="before")
    @classmethod
    def _bool_or_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        tp = field.annotation
        if _admits(tp, (int, float)) and not _admits(tp, (bool,)) and _holds_bool(value):
            what = "a name or a number" if _admits(tp, (str,)) else "a number"
            raise ValueError(f"expected {what}, got true or false")
        if _admits(tp, (bool,)) and not _admits(tp, (int, float)) and \
                isinstance(value, (int, float)) and not isinstance(value, bool):
            words = ", ".join(["true", "false", *map(repr, _strings(tp))])
            raise ValueError(f"expected {' or '.join(words.rsplit(', ', 1))}, got {value!r}")
        return value


class Options(NoBoolNumbers):
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
