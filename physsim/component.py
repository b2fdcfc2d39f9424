"""What every registered component has in common: a name and an options schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from physsim.options import Options, parse_options
from physsim.options import Options as OptionsModel


class Component:
    """Base of attacks, defenses, transforms and objects (classifiers mirror it on nn.Module).

    Subclasses set ``name`` (the registered name that scene files use), ``kind`` (set by the
    kind's base class) and ``Options`` (a pydantic schema that rejects unknown keys). The
    constructor validates options and does nothing heavy.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options

    def __init__(self, options: Mapping[str, Any] | OptionsModel | None = None) -> None:
        self.options = parse_options(self.Options, options, f"{self.kind} {self.name!r} options")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"
