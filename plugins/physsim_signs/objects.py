"""One registered physical object per sign class, generated from the catalogue.

``stop_sign`` is a 750×750 mm octagon labelled ``stop``, ``speed_limit_45`` a 600×750 mm
rectangle labelled ``speed_limit_45``, and so on. Nothing is rendered until ``load()``.
"""

from __future__ import annotations

from pydantic import Field

from physsim.objects import ObjectTexture, PhysicalObject
from physsim.options import Options
from physsim_signs.catalog import SIGNS, SignSpec
from physsim_signs.render import render_sign


class SignObjectOptions(Options):
    """Options of every sign object.

    Attributes:
        size_px: texture resolution along the sign's larger side.
    """

    size_px: int = Field(512, ge=64, le=4096)


class SignObject(PhysicalObject):
    """A traffic sign: its rendered face, perturbable wherever the face is (alpha > 0)."""

    Options = SignObjectOptions
    options: SignObjectOptions
    mutcd: str = ""

    def load(self) -> ObjectTexture:
        texture = render_sign(self.label, self.options.size_px)
        mask = (texture[3:] > 0).to(texture.dtype)
        return ObjectTexture(texture, mask, self.size_mm, self.label, self.name)


def _object_class(spec: SignSpec) -> type[SignObject]:
    class_name = "".join(part.title() for part in spec.object_name.split("_")) + "Object"
    doc = (f"The {spec.label.replace('_', ' ')} sign (MUTCD {spec.mutcd}), "
           f"{spec.size_mm[0]:.0f}×{spec.size_mm[1]:.0f} mm.")
    attrs = {"name": spec.object_name, "label": spec.label, "mutcd": spec.mutcd,
             "size_mm": (float(spec.size_mm[0]), float(spec.size_mm[1])), "__doc__": doc,
             "__module__": __name__, "__qualname__": class_name}
    return type(class_name, (SignObject,), attrs)


#: the registered object classes, in catalogue order
SIGN_OBJECTS: tuple[type[SignObject], ...] = tuple(_object_class(s) for s in SIGNS)
