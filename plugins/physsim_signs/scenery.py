"""What surrounds a sign in a photograph: street backgrounds and things in front of it.

Both are generated in batch on the tensors' device from an explicit generator, so a dataset is
a pure function of its seed. The backgrounds are "photographic-looking" in the statistics that
matter to a 32-64 px classifier window: sky gradients with clouds, foliage with multi-scale
texture, facades with window grids, asphalt, horizons mixing them, and often the sign's own
post below it. Occluders are leafy blobs and branches painted over part of the sign face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _u(n: int, lo: float, hi: float, g: torch.Generator, dev: torch.device,
       *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, *shape, generator=g, device=dev)


def fractal_noise(n: int, size: tuple[int, int], g: torch.Generator, dev: torch.device,
                  octaves: int = 4, persistence: float = 0.55, channels: int = 1) -> torch.Tensor:
    """(n, channels, h, w) multi-octave value noise in [0, 1] (bilinear-upsampled grids)."""
    total = torch.zeros(n, channels, *size, device=dev)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = torch.rand(n, channels, cells, cells, generator=g, device=dev)
        total += amp * F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
        norm += amp
        amp *= persistence
    return total / norm


def _mix(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return a * (1 - w) + b * w


def _sky(n: int, size: tuple[int, int], g: torch.Generator, dev: torch.device) -> torch.Tensor:
    y = torch.linspace(0, 1, size[0], device=dev).view(1, 1, -1, 1)
    top = torch.tensor([0.35, 0.55, 0.85], device=dev).view(1, 3, 1, 1) + _u(n, -.1, .1, g, dev,
                                                                            3, 1, 1)
    bottom = _u(n, 0.75, 0.95, g, dev, 1, 1, 1).expand(-1, 3, -1, -1)
    clouds = (fractal_noise(n, size, g, dev) - _u(n, 0.4, 0.7, g, dev, 1, 1, 1)).clamp(0, 1) * 3
    return _mix(_mix(top, bottom, y), torch.ones(1, 3, 1, 1, device=dev) * 0.92,
                clouds.clamp(0, 1))


def _foliage(n: int, size: tuple[int, int], g: torch.Generator, dev: torch.device
             ) -> torch.Tensor:
    base = torch.stack([_u(n, 0.08, 0.45, g, dev), _u(n, 0.2, 0.5, g, dev),
                        _u(n, 0.05, 0.2, g, dev)], 1).view(n, 3, 1, 1)
    detail = fractal_noise(n, size, g, dev, octaves=5, persistence=0.8)
    light = fractal_noise(n, size, g, dev, octaves=2)
    return base * (0.35 + 1.3 * detail) * (0.6 + 0.8 * light)


def _facade(n: int, size: tuple[int, int], g: torch.Generator, dev: torch.device
            ) -> torch.Tensor:
    h, w = size
    wall = _u(n, 0.3, 0.85, g, dev, 1, 1, 1) * torch.stack(
        [_u(n, 0.85, 1.1, g, dev), _u(n, 0.75, 1.0, g, dev), _u(n, 0.65, 0.95, g, dev)],
        1).view(n, 3, 1, 1)
    yy = torch.arange(h, device=dev).view(1, 1, h, 1).float()
    xx = torch.arange(w, device=dev).view(1, 1, 1, w).float()
    period = _u(n, 0.15, 0.4, g, dev, 1, 1, 1) * max(h, w)
    frac_x = ((xx + _u(n, 0, 50, g, dev, 1, 1, 1)) / period) % 1
    frac_y = ((yy + _u(n, 0, 50, g, dev, 1, 1, 1)) / (period * _u(n, .8, 1.3, g, dev, 1, 1, 1))) % 1
    window = ((frac_x > 0.3) & (frac_x < 0.8) & (frac_y > 0.25) & (frac_y < 0.75)).float()
    glass = _u(n, 0.05, 0.45, g, dev, 1, 1, 1) * torch.tensor([0.8, 0.9, 1.1], device=dev
                                                             ).view(1, 3, 1, 1)
    grain = 0.85 + 0.3 * fractal_noise(n, size, g, dev, octaves=3)
    return _mix(wall * grain, glass, window)


def _asphalt(n: int, size: tuple[int, int], g: torch.Generator, dev: torch.device
             ) -> torch.Tensor:
    grey = _u(n, 0.2, 0.5, g, dev, 1, 1, 1) + 0.15 * fractal_noise(n, size, g, dev, 5, 0.9)
    return grey.expand(-1, 3, -1, -1)


def street_backgrounds(n: int, size: tuple[int, int], g: torch.Generator,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """Photographic-looking backgrounds for sign crops.

    Half are one surface (sky, foliage, facade, asphalt); half are a horizon with sky above and
    one of the others below. Half get a grey post below the centre, where a sign's post is.

    Returns:
        (n, 3, h, w) float32 in [0, 1].
    """
    dev = torch.device(device)
    layers = torch.stack([_sky(n, size, g, dev), _foliage(n, size, g, dev),
                          _facade(n, size, g, dev), _asphalt(n, size, g, dev)], 1)
    idx = torch.arange(n, device=dev)
    below = layers[idx, torch.randint(1, 4, (n,), generator=g, device=dev)]
    single = layers[idx, torch.randint(0, 4, (n,), generator=g, device=dev)]
    y = torch.linspace(0, 1, size[0], device=dev).view(1, 1, -1, 1)
    horizon = (y > _u(n, 0.2, 0.8, g, dev, 1, 1, 1)).float()
    composite = _mix(layers[:, 0], below, horizon)
    out = torch.where(torch.rand(n, 1, 1, 1, generator=g, device=dev) < 0.5, single, composite)
    x = torch.linspace(0, 1, size[1], device=dev).view(1, 1, 1, -1)
    centre = 0.5 + _u(n, -0.05, 0.05, g, dev, 1, 1, 1)
    post = ((x - centre).abs() < _u(n, 0.02, 0.05, g, dev, 1, 1, 1)) & (y > 0.5)
    post &= torch.rand(n, 1, 1, 1, generator=g, device=dev) < 0.5
    out = torch.where(post, _u(n, 0.35, 0.7, g, dev, 1, 1, 1).expand(-1, 3, -1, -1), out)
    return (out * _u(n, 0.7, 1.2, g, dev, 1, 1, 1)).clamp(0, 1)


def occlude(textures: torch.Tensor, g: torch.Generator, fraction: float = 0.2,
            max_cover: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Paint an opaque leafy blob or a branch over part of the sign in ``fraction`` of samples.

    Args:
        textures: (n, 4, H, W) RGBA sign textures.
        g: the generator (on the textures' device).
        fraction: share of samples that get an occluder.
        max_cover: upper bound on a blob's radius relative to the texture side.

    Returns:
        (occluded textures, (n,) bool which samples were occluded). Alpha is unchanged: the
        occluder is only painted where the sign is.
    """
    active = torch.rand(textures.shape[0], generator=g, device=textures.device) < fraction
    out = textures.clone()
    out[active] = _paint_occluder(textures[active], g, max_cover)
    return out, active


def _paint_occluder(textures: torch.Tensor, g: torch.Generator, max_cover: float
                    ) -> torch.Tensor:
    n, _, h, w = textures.shape
    dev = textures.device
    yy = torch.linspace(0, 1, h, device=dev).view(1, h, 1)
    xx = torch.linspace(0, 1, w, device=dev).view(1, 1, w)
    c = torch.rand(n, 2, generator=g, device=dev).view(n, 2, 1, 1)
    r = _u(n, 0.1, max_cover, g, dev, 2, 1, 1)
    blob = ((xx - c[:, 0]) / r[:, 0]) ** 2 + ((yy - c[:, 1]) / r[:, 1]) ** 2
    blob_cov = (1 - blob).mul(8).clamp(0, 1)  # soft over about a pixel at 128 px
    # a branch: a thick segment between two points on the texture border
    p0 = torch.rand(n, 2, generator=g, device=dev) * torch.tensor([1.0, 0.1], device=dev)
    p1 = torch.rand(n, 2, generator=g, device=dev) * 0.6 + 0.2
    d = p1 - p0
    px, py = xx - p0[:, 0].view(n, 1, 1), yy - p0[:, 1].view(n, 1, 1)
    t = ((px * d[:, 0].view(n, 1, 1) + py * d[:, 1].view(n, 1, 1)) /
         (d ** 2).sum(1).view(n, 1, 1)).clamp(0, 1)
    dist = torch.sqrt((px - t * d[:, 0].view(n, 1, 1)) ** 2 + (py - t * d[:, 1].view(n, 1, 1)) ** 2)
    width = _u(n, 0.02, 0.05, g, dev, 1, 1)
    branch_cov = ((width - dist) * w).clamp(0, 1)
    is_blob = torch.rand(n, 1, 1, generator=g, device=dev) < 0.6
    cover = torch.where(is_blob, blob_cov, branch_cov) * textures[:, 3]
    colour = torch.stack([_u(n, 0.1, 0.45, g, dev), _u(n, 0.15, 0.45, g, dev),
                          _u(n, 0.05, 0.2, g, dev)], 1).view(n, 3, 1, 1)
    rgb = _mix(textures[:, :3], colour, cover.unsqueeze(1))
    return torch.cat([rgb, textures[:, 3:]], 1)
