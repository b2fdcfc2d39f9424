"""Placing one universal patch on many objects, then through the physical EOT model.

The adversarial patch (Brown et al. 2017, arXiv:1712.09665) is trained over every object class
and many backgrounds: per EOT sample an object is drawn, the patch is put on its face at a
random position, scale and rotation (a differentiable affine resampling of the patch into the
object's texture), and the patched texture goes through the pipeline like any printed object.
:class:`PatchRenderer` implements :class:`physsim.objective.Renderer`, so attacks see one
ordinary objective over the patch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from physsim.eot.ranges import uniform


def shape_mask(shape: str, size: int) -> torch.Tensor:
    """(1, 1, size, size) 0/1 mask of a ``circle`` or a ``square`` patch."""
    if shape == "square":
        return torch.ones(1, 1, size, size)
    c = (torch.arange(size) + 0.5) / size * 2 - 1
    return ((c.view(-1, 1) ** 2 + c.view(1, -1) ** 2) <= 1).float().view(1, 1, size, size)


def square_textures(textures: list[torch.Tensor], side: int) -> torch.Tensor:
    """Pad RGBA textures (4, H, W) to squares (alpha 0 outside) and resize to ``side``.

    Returns (N, 4, side, side); the object's physical width becomes its longer side.
    """
    out = []
    for t in textures:
        h, w = t.shape[-2:]
        s = max(h, w)
        padded = t.new_zeros(4, s, s)
        top, left = (s - h) // 2, (s - w) // 2
        padded[:, top:top + h, left:left + w] = t
        out.append(F.interpolate(padded[None], size=(side, side), mode="area")[0])
    return torch.stack(out)


class PatchRenderer:
    """Renders a patch (B, 3, P, P) placed on randomly drawn objects -> (B, n, 3, h, w).

    Args:
        pipeline: the physical EOT pipeline (:class:`physsim.eot.pipeline.Pipeline`).
        textures: (N, 4, T, T) square RGBA textures of the objects (see :func:`square_textures`).
        size_mm: (N, 2) physical size of each square texture.
        mask: (1, 1, P, P) the patch's shape.
        size: the patch's side (diameter) as a fraction of the object's side: one number, or
            (N,) one per object (see :func:`face_area_sizes`).
        scale: (low, high) random scale factor of the patch.
        position: the largest offset of the patch centre from the object centre, as a fraction
            of the object's half-side.
        rotation_deg: (low, high) random in-plane rotation of the patch.
        labels: the classifier's class index of each object.
        objects: the object indices to draw from (default: all).
    """

    def __init__(self, pipeline: Any, textures: torch.Tensor, size_mm: torch.Tensor,
                 mask: torch.Tensor, size: float | torch.Tensor, scale: tuple[float, float],
                 position: float, rotation_deg: tuple[float, float], labels: list[int],
                 objects: list[int] | None = None) -> None:
        self.pipeline = pipeline
        self.textures = textures
        self.size_mm = size_mm
        self.mask = mask
        self.sizes = torch.as_tensor(size, dtype=textures.dtype,
                                     device=textures.device).expand(len(textures)).clone()
        self.scale = scale
        self.position = position
        self.rotation_deg = rotation_deg
        self.labels = labels
        self.objects = torch.tensor(objects if objects is not None else range(len(textures)))

    def sample(self, n: int, generator: torch.Generator, objects: torch.Tensor | None = None,
               **fixed: Any) -> dict[str, Any]:
        """Draw n placements (object, scale, rotation, centre) and n pipeline samples."""
        dev = generator.device
        pick = torch.randint(len(self.objects), (n,), generator=generator, device=dev)
        obj = self.objects.to(dev)[pick] if objects is None else objects.to(dev)
        return {
            "object": obj,
            "scale": uniform(self.scale, n, generator),
            "rotation_deg": uniform(self.rotation_deg, n, generator),
            "center": (torch.rand(n, 2, generator=generator, device=dev) * 2 - 1) * self.position,
            "eot": self.pipeline.sample(n, generator, **fixed),
        }

    def select(self, params: dict[str, Any], index: slice) -> dict[str, Any]:
        out = {k: v[index] for k, v in params.items() if k != "eot"}
        out["eot"] = self.pipeline.select(params["eot"], index)
        return out

    def place(self, patch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Patch (3, P, P) on each sample's object -> (n, 4, T, T) patched RGBA textures."""
        obj = params["object"]
        tex = self.textures.to(patch)[obj]
        n = tex.shape[0]
        theta = torch.deg2rad(params["rotation_deg"].to(patch))
        half = (self.sizes.to(patch)[obj] * params["scale"].to(patch)).clamp(min=1e-3)
        cos, sin = torch.cos(theta) / half, torch.sin(theta) / half
        c = params["center"].to(patch)
        # patch coords q = R(-theta) (p - c) / half, for texture coords p in [-1, 1]
        a = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1)
        b = -(a @ c.unsqueeze(-1)).squeeze(-1)
        grid = F.affine_grid(torch.cat([a, b.unsqueeze(-1)], -1), [n, 4, *tex.shape[-2:]],
                             align_corners=False)
        src = torch.cat([patch.expand(n, -1, -1, -1), self.mask.to(patch).expand(n, -1, -1, -1)],
                        1)
        warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)
        m = warped[:, 3:] * tex[:, 3:]  # the sticker only shows on the object's face
        rgb = tex[:, :3] * (1 - m) + warped[:, :3] * m
        return torch.cat([rgb, tex[:, 3:]], 1)

    def render(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        sizes = self.size_mm.to(x)[params["object"]]
        outs = [self.pipeline.render_pairs(self.place(p, params), sizes, params["eot"])
                for p in x]  # one universal patch, usually: B == 1
        return torch.stack(outs)

    def area_fraction(self) -> float:
        """The patch's largest area (at the top of the scale range) as a fraction of the face
        it is put on, on the object where that fraction is largest (an upper bound: a patch
        over an edge shows less)."""
        side = self.textures.shape[-1]
        objs = self.objects.to(self.textures.device)
        patch_px = self.mask.mean().item() * (self.sizes[objs] * self.scale[1] * side) ** 2
        face = self.textures[objs, 3].flatten(1).sum(1)
        return float((patch_px / face).max())


def face_area_sizes(textures: torch.Tensor, mask: torch.Tensor, area: float,
                    scale_high: float) -> torch.Tensor:
    """(N,) patch sides (fractions of each object's side) at which the patch, at the top of its
    scale range, covers ``area`` of each object's face.

    Args:
        textures: (N, 4, T, T) square RGBA textures (see :func:`square_textures`).
        mask: (1, 1, P, P) the patch's shape.
        area: the share of each face to cover.
        scale_high: the largest random scale factor of the patch.
    """
    face = textures[:, 3].flatten(1).mean(1)  # the face's share of the square
    return torch.sqrt(area * face / (mask.mean() * scale_high**2))
