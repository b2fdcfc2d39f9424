"""physsim-example: a complete, minimal third-party physsim plugin.

physsim imports this module through the ``physsim`` entry point in ``pyproject.toml`` and calls
:func:`register_attacks` each time it builds its attack registry. Registration only hands over
the class; nothing is computed until a scene runs the attack.
"""

from __future__ import annotations

from collections.abc import Callable

from physsim.attack import Attack
from physsim.hookspecs import hookimpl

from physsim_example.rfgsm import RFGSM, r_fgsm

__all__ = ["RFGSM", "r_fgsm", "register_attacks"]


@hookimpl
def register_attacks(register: Callable[[type[Attack]], None]) -> None:
    """Register the ``rfgsm`` attack."""
    register(RFGSM)
