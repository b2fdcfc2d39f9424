"""``physsim print``: a run's artefact as a PDF at exact physical size.

The sign (tiled onto A4/Letter sheets with overlap and alignment marks, or on one full-size
page), ArUco fiducials outside it for camera evaluation, a 100 mm scale bar on every page, a
sticker sheet with cut outlines for sticker attacks, and a JSON sidecar. See
``docs/printing.md``.

Only the click command is imported eagerly (the CLI must start fast); :func:`print_run` and
the rest load OpenCV and fpdf2 when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from physsim.printing.command import print_cmd

if TYPE_CHECKING:
    from physsim.printing.document import PrintOptions, PrintResult, print_run

__all__ = ["PrintOptions", "PrintResult", "print_cmd", "print_run"]


def __getattr__(name: str) -> Any:
    if name in {"PrintOptions", "PrintResult", "print_run"}:
        from physsim.printing import document

        return getattr(document, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
