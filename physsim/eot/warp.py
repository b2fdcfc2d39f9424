"""One resampling: warp textures through one homography per sample, prefiltered by a mip pyramid.

A camera pixel integrates the light over its footprint on the object. When a 512 px texture is
seen as 30 px, bilinear sampling of the full texture would pick a few texels per pixel and
alias. Instead the texture is reduced once to a pyramid (2x2 box filter per level) and every
sample reads the two levels whose texel size brackets its footprint, blended linearly
(trilinear mip-mapping). Levels are shared by all samples that use them, so the cost follows the
window size, not the texture size.

Each level is sampled with ``grid_sample`` (bilinear, ``align_corners=False``, so normalised
coordinates address pixel edges); its coordinates come from the same homography with the level's
extent folded in. Outside the texture the samples are transparent (zero premultiplied RGBA).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from physsim.eot.base import Camera, Frame, GeometricTransform, Params

#: The camera a geometric transform uses when applied on its own, outside a pipeline.
DEFAULT_CAMERA = Camera.from_fov(50.0, (1920, 1080))


def level_count(size: tuple[int, int]) -> int:
    """How many levels a pyramid of an image of ``size`` has (down to 1 px on the long side)."""
    return math.floor(math.log2(max(size))) + 1


def build_pyramid(x: torch.Tensor, first: int, last: int) -> dict[int, torch.Tensor]:
    """Levels ``first`` to ``last`` of the box-filter pyramid of x: {level: (T, C, h_l, w_l)}.

    Level l is x averaged over 2**l x 2**l boxes (sizes round up; partial boxes are averaged
    over what they cover). The first level is pooled in one step: nothing is computed, or
    differentiated, at the resolutions no sample uses.
    """
    level = x if first == 0 else F.avg_pool2d(x, 2**first, ceil_mode=True)
    out = {first: level}
    for i in range(first + 1, last + 1):
        out[i] = F.avg_pool2d(out[i - 1], 2, ceil_mode=True)
    return out


def footprint_lod(matrix: torch.Tensor, texture_size: tuple[int, int]) -> torch.Tensor:
    """(n,) log2 of texels per window pixel at the texture centre, along the most shrunk axis.

    Args:
        matrix: (n, 3, 3) texture -> window homography (index coordinates).
        texture_size: (height, width) of the texture.
    """
    m = matrix.double()
    h, w = texture_size
    c = torch.tensor([(w - 1) / 2, (h - 1) / 2, 1.0], dtype=torch.float64, device=m.device)
    p = m @ c
    z = p[:, 2:]
    xy = p[:, :2] / z  # where c lands
    # Jacobian of the projective map at c: window pixels per texel, [[a, b], [cc, d]]
    jac = (m[:, :2, :2] - xy.unsqueeze(2) * m[:, 2:, :2]) / z.unsqueeze(2)
    a, b, cc, d = jac.flatten(1).unbind(1)
    fro, det = a * a + b * b + cc * cc + d * d, (a * d - b * cc).abs()
    smin2 = (fro - torch.sqrt((fro * fro - 4 * det * det).clamp(min=0))) / 2
    return -0.5 * torch.log2(smin2.clamp(min=1e-30))


def level_matrices(matrix: torch.Tensor, extent: tuple[float, float]) -> torch.Tensor:
    """(n, 3, 3) window index coordinates -> normalised coordinates of a pyramid level.

    Args:
        matrix: (n, 3, 3) texture -> window homographies (texture index coordinates).
        extent: (height, width) the level covers, in level-0 pixels (its size times 2**level,
            which exceeds the texture by part of a box when the texture's size is odd).
    """
    eh, ew = extent
    # level-0 index u -> edge coordinate u + 0.5 -> normalised 2 (u + 0.5) / extent - 1
    norm = torch.tensor([[2.0 / ew, 0.0, 1.0 / ew - 1.0], [0.0, 2.0 / eh, 1.0 / eh - 1.0],
                         [0.0, 0.0, 1.0]], dtype=torch.float64, device=matrix.device)
    return norm @ torch.linalg.inv(matrix.double())


def window_grid(minv: torch.Tensor, output_size: tuple[int, int],
                dtype: torch.dtype) -> torch.Tensor:
    """(n, h, w, 2) where each window pixel samples: ``minv`` (n, 3, 3) maps window index
    coordinates to normalised texture coordinates (see :func:`level_matrices`)."""
    h, w = output_size
    a = minv.to(dtype).unsqueeze(-1)  # (n, 3, 3, 1)
    xs = torch.arange(w, dtype=dtype, device=a.device).view(1, 1, 1, w)
    ys = torch.arange(h, dtype=dtype, device=a.device).view(1, 1, h, 1)
    # u, v and z of every pixel, the matrix's three rows at once: (n, 3, 1, w) + (n, 3, h, 1)
    uvz = a[:, :, 0:1] * xs + (a[:, :, 1:2] * ys + a[:, :, 2:3])
    uv, z = uvz[:, :2], uvz[:, 2:]
    if bool((z <= 1e-9).any()):
        # points on or behind the camera's horizon of the plane map far outside the texture
        uv = torch.where(z > 1e-9, uv / z.clamp(min=1e-9), torch.full_like(uv, -4.0))
    else:
        uv = uv / z
    return uv.permute(0, 2, 3, 1).contiguous()


#: The most elements of the premultiplied product formed at once (256 K floats: 1 MB).
_BAND_ELEMENTS = 1 << 18


#: Boxes at most this wide have each row summed by :func:`_run_sums`.
_SHORT_RUN = 8


def _run_sums(x: torch.Tensor) -> torch.Tensor:
    """(..., k) -> (...): the last dimension summed left to right, as k - 1 additions over
    the whole tensor.

    ``torch.sum`` over a short innermost dimension runs one short sum at a time: pooling a
    512 px texture by 2 took 6 ms, by 8 1.8 ms, against 0.4 and 0.8 ms this way (an EOT step
    at 224 px, K = 8: 168 to 142 ms). For runs of up to 8 values ``torch.sum`` adds in this
    same order on the CPUs this project is measured on (renders kept every bit); for longer
    runs it does not, and they stay with it.
    """
    s = x[..., 0]
    for i in range(1, x.shape[-1]):
        s = s + x[..., i]
    return s


class _PremultipliedPool(torch.autograd.Function):
    """avg_pool2d(rgb * alpha, k) for sizes divisible by k, without a full-size product: the
    forward pass forms it a band of rows at a time, the backward pass writes the gradient once,
    as one broadcast product."""

    @staticmethod
    def forward(ctx: Any, rgb: torch.Tensor, alpha: torch.Tensor, k: int) -> torch.Tensor:
        ctx.save_for_backward(rgb, alpha)
        ctx.k = k
        t, c, hk, wk = rgb.shape
        h, w = hk // k, wk // k
        rgb_boxes = rgb.reshape(t, c, h, k, w, k)
        alpha_boxes = alpha.reshape(-1, 1, h, k, w, k)
        # the product in bands of box rows: each band's product stays in the cache, and no
        # texture-sized temporary is allocated (on a machine where the allocator hands a large
        # freed block back to the system, that is a page fault per 4 KB on every step)
        rows = max(1, _BAND_ELEMENTS // (t * c * k * wk))
        out = rgb.new_empty(t, c, h, w)
        for i in range(0, h, rows):
            band = rgb_boxes[:, :, i:i + rows] * alpha_boxes[:, :, i:i + rows]
            if k <= _SHORT_RUN:
                torch.sum(_run_sums(band), 3, out=out[:, :, i:i + rows])
            else:
                torch.sum(band, (3, 5), out=out[:, :, i:i + rows])
        return out.div_(k * k)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        rgb, alpha = ctx.saved_tensors
        k: int = ctx.k
        t, c, h, w = grad.shape
        # each box's gradient repeated along its row first (a k-th of the texture's size), so
        # that the full-size product runs over whole texture rows rather than k-texel pieces
        g = (grad / (k * k)).unsqueeze(-1).expand(t, c, h, w, k).reshape(t, c, h, 1, w * k)

        def boxes(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], x.shape[1], h, k, w * k)

        grad_rgb = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_rgb = (g * boxes(alpha)).reshape(t, c, h * k, w * k)
        if ctx.needs_input_grad[1]:
            grad_alpha = (g * boxes(rgb)).sum(1, keepdim=True).reshape(t, 1, h * k, w * k)
            if alpha.shape[0] != t:
                grad_alpha = grad_alpha.sum(0, keepdim=True)
        return grad_rgb, grad_alpha, None


def premultiplied_pyramid(rgb: torch.Tensor, alpha: torch.Tensor, first: int, last: int,
                          alpha_levels: dict[int, torch.Tensor] | None = None
                          ) -> dict[int, torch.Tensor]:
    """Levels ``first`` to ``last`` of the pyramid of premultiplied RGBA (rgb * alpha, alpha).

    The same values as ``build_pyramid(cat([rgb * alpha, alpha], 1), first, last)``, computed
    with less full-resolution work: the product is pooled straight to level ``first`` (its
    gradient is one broadcast product), and a constant alpha's levels can be given
    precomputed (``alpha_levels``: level i is ``build_pyramid(alpha, i, i)[i]``).

    Args:
        rgb: (T, 3, H, W) straight colour.
        alpha: (1 or T, 1, H, W) coverage.
    """
    size = rgb.shape[-2:]
    k = 2**first
    if first == 0 or size[0] % k or size[1] % k:
        colour = build_pyramid(rgb * alpha, first, last)
    else:
        colour = build_pyramid(_PremultipliedPool.apply(rgb, alpha, k), 0, last - first)
        colour = {first + i: v for i, v in colour.items()}
    exact = size[0] % 2**last == 0 and size[1] % 2**last == 0  # else the cache's rounding
    if alpha_levels is None or alpha.requires_grad or not exact:
        alpha_levels = build_pyramid(alpha, first, last)
    t = rgb.shape[0]
    return {i: torch.cat([colour[i], alpha_levels[i].expand(t, -1, -1, -1)], 1)
            for i in range(first, last + 1)}


def sample_lod(matrix: torch.Tensor, size: tuple[int, int],
               lod_bias: torch.Tensor | None = None) -> torch.Tensor:
    """(n,) the level of detail each sample is drawn at: its footprint's plus ``lod_bias``."""
    lod = footprint_lod(matrix, size)
    return lod if lod_bias is None else lod + lod_bias.to(lod)


def _plan(matrix: torch.Tensor, size: tuple[int, int], prefilter: bool,
          lod_bias: torch.Tensor | None, lod: torch.Tensor | None = None
          ) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """[(level, sample indices, weights)]: each sample blends floor(lod) and floor(lod) + 1."""
    n, dev = matrix.shape[0], matrix.device
    if not prefilter:
        return [(0, torch.arange(n, device=dev), torch.ones(n, device=dev, dtype=torch.float64))]
    if lod is None:
        lod = sample_lod(matrix, size, lod_bias)
    return group_levels(lod, level_count(size))


def uniform_extent(size: tuple[int, int]) -> tuple[float, float] | None:
    """The extent every pyramid level of a texture of ``size`` covers, when that is the same
    at every level (both sides divisible by the coarsest level's box: a power-of-two texture),
    else None: the sampling grids of :func:`warp` then depend on the levels a batch uses."""
    box = 2 ** (level_count(size) - 1)
    return None if size[0] % box or size[1] % box else (float(size[0]), float(size[1]))


def group_levels(lod: torch.Tensor, count: int) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """[(level, sample indices, weights)] for trilinear mip-mapping at levels of detail ``lod``
    (n,) in a pyramid of ``count`` levels: each sample blends floor(lod) and floor(lod) + 1.
    Ordered by level, then sample."""
    return group_levels_parts(lod, count, [lod.shape[0]])[0]


def group_levels_parts(lod: torch.Tensor, count: int, sizes: list[int]
                       ) -> list[list[tuple[int, torch.Tensor, torch.Tensor]]]:
    """:func:`group_levels` of each of consecutive parts of ``lod`` (their ``sizes``), with
    one sort and one transfer for all of them: the same plans as each part's alone."""
    n, dev = lod.shape[0], lod.device
    lod = lod.clamp(0, count - 1)
    lo = lod.floor()
    frac = lod - lo
    has = frac > 0
    bounds = torch.tensor(sizes, device=dev)
    part = torch.repeat_interleave(torch.arange(len(sizes), device=dev), bounds)
    local = torch.arange(n, device=dev) - (torch.cumsum(bounds, 0) - bounds)[part]
    # every (sample, level) pair as one entry, ordered by part, level, then sample: one
    # transfer tells where each part's levels start
    level = torch.cat([lo, lo[has] + 1]).long()
    index = torch.cat([local, local[has]])
    key = torch.cat([part, part[has]]) * count + level
    weight = torch.cat([1 - frac, frac[has]])
    order = torch.argsort(key * max(sizes) + index)
    keys, counts = torch.unique_consecutive(key[order], return_counts=True)
    found, lengths = torch.stack([keys, counts]).tolist()
    plans: list[list[tuple[int, torch.Tensor, torch.Tensor]]] = [[] for _ in sizes]
    for k, i, w in zip(found, index[order].split(lengths), weight[order].split(lengths),
                       strict=True):
        plans[k // count].append((k % count, i, w))
    return plans


def warp(texture: torch.Tensor, matrix: torch.Tensor,
         output_size: tuple[int, int], prefilter: bool = True, pairs: bool = False,
         lod_bias: torch.Tensor | None = None, premultiply: torch.Tensor | None = None,
         alpha_levels: dict[int, torch.Tensor] | None = None, lod: torch.Tensor | None = None,
         grids: dict[tuple[float, float], torch.Tensor] | None = None,
         plan: list[tuple[int, torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
    """Warp textures into windows, one homography per sample.

    Args:
        texture: (T, C, H, W) textures (premultiplied alpha if RGBA, or straight colour
            with ``premultiply``).
        matrix: (n, 3, 3) texture -> window homographies (index coordinates).
        output_size: (h, w) of the window.
        prefilter: mip-map the texture so that small views do not alias.
        pairs: sample i uses texture i (T == n); otherwise every texture is seen under every
            sample.
        lod_bias: (n,) added to each sample's level (log2 of extra blur), e.g. when the
            sensor's pixels are larger than the window's.
        premultiply: (1 or T, 1, H, W) alpha: ``texture`` is straight colour, and the
            windows are premultiplied RGBA (C + 1 channels), as if ``cat([texture * alpha,
            alpha], 1)`` had been given, at less cost (see :func:`premultiplied_pyramid`).
        alpha_levels: that alpha's precomputed pyramid (every level), when it is constant.
        lod: (n,) precomputed levels of detail (:func:`sample_lod`, bias included); with it
            ``lod_bias`` is not used.
        grids: precomputed sampling grids by extent, (n, h, w, 2) each (:func:`window_grid`
            of :func:`level_matrices`); an extent not among them is computed.
        plan: the samples' levels, precomputed (:func:`group_levels` of ``lod``, or of the
            texture's footprint without ``prefilter``: all at level 0).

    Shape:
        - Output: (n, C, h, w) if ``pairs`` else (T, n, C, h, w).
    """
    size = (texture.shape[-2], texture.shape[-1])
    if plan is None:
        plan = _plan(matrix, size, prefilter, lod_bias, lod)
    first, last = plan[0][0], plan[-1][0]
    pad_h, pad_w = -size[0] % 2**last, -size[1] % 2**last
    if premultiply is not None and (pad_h or pad_w):
        # an object whose sides are not multiples of the coarsest level's box: beyond its
        # right and bottom edges lies transparent nothing, so that a partial box holds part
        # of the object rather than stretching it (averaged over what it covers, a box at
        # the edge made the object up to a fifth larger, and shifted it)
        texture = F.pad(texture, (0, pad_w, 0, pad_h))
        premultiply = F.pad(premultiply, (0, pad_w, 0, pad_h))
        alpha_levels = None
    levels = (build_pyramid(texture, first, last) if premultiply is None
              else premultiplied_pyramid(texture, premultiply, first, last, alpha_levels))
    out: torch.Tensor | None = None
    dim = 0 if pairs else 2  # the sample dimension of (n, C, h, w) or (T, C, n, h, w)
    n = matrix.shape[0]
    # normalised coordinates address the same point at every level that covers the same
    # extent (all levels, when the texture's sides are divisible by 2**last): one grid for all
    grids = dict(grids or {})
    for level, idx, wgt in plan:
        src = levels[level]
        ext = (src.shape[-2] * 2.0**level, src.shape[-1] * 2.0**level)
        if ext not in grids:
            grids[ext] = window_grid(level_matrices(matrix, ext), output_size, texture.dtype)
        grid = grids[ext] if idx.numel() == n else grids[ext][idx]
        res = _sample(src[idx] if pairs else src, grid, pairs)
        shape = [-1 if i == dim else 1 for i in range(res.ndim)]
        res = res * wgt.to(res.dtype).view(shape)
        if len(plan) == 1:
            return res if pairs else res.transpose(1, 2)
        if out is None:
            out = res.new_zeros(*res.shape[:dim], matrix.shape[0], *res.shape[dim + 1:])
        out = out.index_add(dim, idx, res)
    assert out is not None
    # (T, C, n, h, w) -> (T, n, C, h, w): one copy at the end rather than one per level
    return out if pairs else out.transpose(1, 2)


def _sample(src: torch.Tensor, grid: torch.Tensor, pairs: bool) -> torch.Tensor:
    """Bilinear lookup: (m, C, h, w) if ``pairs`` (sample i in texture i) else (T, C, m, h, w)."""
    if pairs:
        return F.grid_sample(src, grid, align_corners=False)
    t, ch = src.shape[:2]
    m, h, w = grid.shape[:3]
    # all windows side by side in one tall image: no per-sample copy of the texture
    g = grid.reshape(1, m * h, w, 2).expand(t, m * h, w, 2)
    return F.grid_sample(src, g, align_corners=False).view(t, ch, m, h, w)


def apply_geometric(transform: GeometricTransform, images: torch.Tensor,
                    params: Params) -> torch.Tensor:
    """A geometric transform on its own: images (n, C, H, W) are the texture of a 1 m wide
    object, viewed through :data:`DEFAULT_CAMERA` and framed to the same size (its bounding
    box, no margin, unless the transform sets the window itself)."""
    from physsim.eot.camera import window_matrix

    n, _, h, w = images.shape
    size_mm = torch.tensor([[1000.0, 1000.0 * h / w]], dtype=torch.float64,
                           device=images.device).expand(n, 2)
    frame = Frame.texture((h, w), size_mm, DEFAULT_CAMERA)
    frame = transform.compose(frame, params, (h, w))
    if frame.name != "window":
        zero = torch.zeros(n, dtype=torch.float64, device=images.device)
        m, _ = window_matrix(frame, zero, torch.zeros(n, 2, dtype=torch.float64,
                                                      device=images.device), (h, w))
        frame = frame.then(m, "window", (h, w))
    return warp(images, frame.matrix, (h, w), prefilter=True, pairs=True)
