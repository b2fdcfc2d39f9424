"""Built-in physical attacks: RP2 stickers and posters, and the universal adversarial patch."""

from __future__ import annotations

from collections.abc import Callable

from physsim.attack import Attack
from physsim.hookspecs import hookimpl
from physsim_physical.patch import AdversarialPatch
from physsim_physical.rp2 import RP2


@hookimpl
def register_attacks(register: Callable[[type[Attack]], None]) -> None:
    register(RP2)
    register(AdversarialPatch)
