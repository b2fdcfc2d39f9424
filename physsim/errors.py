"""Errors a user can cause, as opposed to bugs.

A :class:`UserError` carries one line that says what is wrong and where. The CLI prints it and
exits with status 2; bugs still raise with a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a bad scene, an unknown name, a missing or corrupt file.

    Args:
        message: what is wrong, in one line.
        where: the file, field or option it concerns (prefixed to the message).
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(UserError):
    """A component name that no installed plugin registers; lists the names that exist."""

    def __init__(self, kind: str, name: str, available: list[str], where: str | None = None):
        names = ", ".join(sorted(available)) or "none"
        super().__init__(f"unknown {kind} {name!r} (available: {names})", where)
        self.kind = kind
        self.name = name


class DuplicateNameError(UserError):
    """Two plugins register a component of the same kind under the same name (``first`` None:
    a plugin takes the name of one of physsim's own commands)."""

    def __init__(self, kind: str, name: str, first: str | None, second: str) -> None:
        if first is None:  # the name is physsim's own (a core command)
            super().__init__(
                f"{kind} {name!r} of plugin {second!r} has the name of a physsim {kind}; "
                "uninstall the plugin or block it with PHYSSIM_DISABLE_PLUGINS"
            )
            return
        super().__init__(
            f"{kind} {name!r} is registered by both plugin {first!r} and plugin {second!r}; "
            "uninstall one or block it with PHYSSIM_DISABLE_PLUGINS"
        )
