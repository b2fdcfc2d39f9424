"""The EOT engine's built-in plugin: registers the transforms and the ``eot-preview`` command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from physsim.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from physsim.eot.base import Transform


@hookimpl
def register_transforms(register: Callable[[type[Transform]], None]) -> None:
    from physsim.eot.background import Background
    from physsim.eot.camera import Crop, Pose
    from physsim.eot.jpeg import Jpeg
    from physsim.eot.lighting import Lighting
    from physsim.eot.photo import Defocus, GaussianBlur, MotionBlur, SensorNoise
    from physsim.eot.printer import Printer

    for cls in (Pose, Crop, Printer, Lighting, Background, Defocus, GaussianBlur, MotionBlur,
                SensorNoise, Jpeg):
        register(cls)


@hookimpl
def register_commands(register: Callable[[click.Command], None]) -> None:
    from physsim.eot.preview import eot_preview

    register(eot_preview)
