"""The pipeline's optional paths on every device: the CPU always, CUDA where there is one.

``test_pipeline``'s CUDA test covers the default pipeline. These cover what it does not: the
other backgrounds, a LUT printer, disc defocus, the FFT blur, kornia's JPEG, no prefilter, an
RGB texture on the pipeline's alpha, fixed params, params from a CPU generator or read onto the
CPU, ``render_pairs``, and the objective's lookahead on the device's own generator. Each
renders, back-propagates to the texture, and compares the device's render with the CPU's render
of the same params (on the CPU that is the render itself, so what runs here checks each test's
own logic).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from eot_textures import make_texture

from physsim.eot.ops import FFT_ABOVE, depthwise
from physsim.eot.params import EOTParams
from physsim.eot.pipeline import Pipeline

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]
SIZE = 16
POSE = [{"pose": {"distance_m": [2.0, 6.0], "yaw_deg": [-30, 30]}}, {"crop": {}}]


def _files(tmp_path: Path) -> dict[str, str]:
    """A photo for the image background and a LUT printer profile (R and B swapped)."""
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), (rng.random((40, 60, 3)) * 255).astype(np.uint8))
    lut = [[[[b, g, r] for b in (0.0, 1.0)] for g in (0.0, 1.0)] for r in (0.0, 1.0)]
    profile = tmp_path / "lut.json"
    profile.write_text(json.dumps({"lut": lut, "palette": [[0, 0, 0], [1, 1, 1]]}))
    return {"photo": str(photo), "profile": str(profile)}


def _config(variant: str, files: dict[str, str]) -> dict[str, Any]:
    steps: dict[str, list[dict[str, Any]]] = {
        "flat background": [{"background": {"kind": "flat"}}],
        "image background": [{"background": {"kind": "image", "images": [files["photo"]]}}],
        "LUT printer": [{"printer": {"profile": files["profile"]}}, {"background": {}}],
        "disc defocus": [{"background": {}},
                         {"defocus": {"sigma_px": [1.0, 3.0], "shape": "disk"}}],
        "kornia JPEG": [{"background": {}}, {"jpeg": {"quality": [50, 90],
                                                      "backend": "kornia"}}],
        "no prefilter": [{"background": {}}, {"sensor_noise": {}}],
    }
    cfg: dict[str, Any] = {"transforms": POSE + steps[variant]}
    if variant == "no prefilter":
        cfg["prefilter"] = False
    return cfg


def _pipe(cfg: dict[str, Any] | None, device: str, **kwargs: Any) -> Pipeline:
    return Pipeline(cfg, output_size=(SIZE, SIZE), size_mm=(750.0, 750.0), device=device,
                    **kwargs)


def _matches_cpu(out: torch.Tensor, cpu: torch.Tensor) -> None:
    # float rounding differs between devices and may tip a JPEG coefficient: a mean
    assert (out.detach().cpu() - cpu).abs().mean() < 2e-3


def _renders_and_differentiates(pipe: Pipeline, x: torch.Tensor, params: EOTParams,
                                device: str) -> torch.Tensor:
    x = x.to(device).requires_grad_(True)
    out = pipe.render(x, params)
    seen = out.detach()
    assert seen.device.type == device and seen.dtype == torch.float32
    assert bool(torch.isfinite(seen).all()) and 0 <= float(seen.min()) <= float(seen.max()) <= 1
    out.mean().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert float(x.grad.abs().sum()) > 0
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", ["flat background", "image background", "LUT printer",
                                     "disc defocus", "kornia JPEG", "no prefilter"])
def test_each_option_renders_on_the_device_as_on_the_cpu(tmp_path: Path, device: str,
                                                         variant: str) -> None:
    cfg = _config(variant, _files(tmp_path))
    pipe = _pipe(cfg, device)
    # a CPU generator (what an objective uses by default) feeding the device's pipeline
    params = pipe.sample(3, torch.Generator().manual_seed(0))
    texture = make_texture()[None]
    out = _renders_and_differentiates(pipe, texture, params, device)
    cpu_pipe = _pipe(cfg, "cpu")
    _matches_cpu(out, cpu_pipe.render(texture, cpu_pipe.check(
        EOTParams.from_json(params.to_json()))))


@pytest.mark.parametrize("device", DEVICES)
def test_rgb_on_the_pipelines_alpha_fixed_params_and_cpu_params(device: str) -> None:
    rgba = make_texture()
    alpha = rgba[3:]
    pipe = _pipe(None, device, alpha=alpha.to(device))
    params = pipe.sample(4, torch.Generator().manual_seed(1),
                         fixed={"pose.distance_m": torch.tensor([2.0, 4.0, 6.0, 8.0]),
                                "jpeg.quality": 70})
    assert params["pose"]["distance_m"].device.type == device
    assert params["pose"]["distance_m"].tolist() == [2.0, 4.0, 6.0, 8.0]
    out = _renders_and_differentiates(pipe, rgba[None, :3], params, device)
    # the pipeline's alpha gives what the same texture as RGBA gives
    torch.testing.assert_close(pipe.render(rgba[None].to(device), params), out.detach())
    # replayed params read onto the CPU (from_json's default) are moved to the device
    on_cpu = EOTParams.from_json(params.to_json())
    torch.testing.assert_close(pipe.render(rgba[None, :3].to(device), on_cpu), out.detach())
    cpu_pipe = _pipe(None, "cpu", alpha=alpha)
    _matches_cpu(out, cpu_pipe.render(rgba[None, :3], cpu_pipe.check(on_cpu)))


@pytest.mark.parametrize("device", DEVICES)
def test_render_pairs_on_the_device(device: str) -> None:
    pipe = _pipe(None, device)
    params = pipe.sample(3, torch.Generator().manual_seed(2))
    textures = torch.stack([make_texture(seed=s) for s in range(3)]).to(device)
    size_mm = torch.tensor([[750.0, 750.0], [600.0, 600.0], [900.0, 600.0]])
    out = pipe.render_pairs(textures, size_mm, params)
    assert out.device.type == device and out.shape == (3, 3, SIZE, SIZE)
    # texture i under sample i: the first is what render gives for it under that sample
    first = pipe.render(textures[:1], pipe.select(params, slice(0, 1)))[0, 0]
    torch.testing.assert_close(out[0], first)
    cpu_pipe = _pipe(None, "cpu")
    _matches_cpu(out, cpu_pipe.render_pairs(textures.cpu(), size_mm, cpu_pipe.check(
        EOTParams.from_json(params.to_json()))))


@pytest.mark.parametrize("device", DEVICES)
def test_the_fft_blur_on_the_device(device: str) -> None:
    # kernels wider than FFT_ABOVE go through torch.fft: the same result as conv2d's
    g = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 48, 48, generator=g, dtype=torch.float64)
    width = FFT_ABOVE + 4
    kernels = torch.rand(2, width, width, generator=g, dtype=torch.float64)
    kernels = kernels / kernels.sum((1, 2), keepdim=True)
    x = images.to(device).requires_grad_(True)
    out = depthwise(x, kernels.to(device))
    out.sum().backward()
    assert x.grad is not None and out.device.type == device
    pad = torch.nn.functional.pad(images, [width // 2] * 4, mode="reflect")
    direct = torch.stack([torch.nn.functional.conv2d(pad[i:i + 1].transpose(0, 1),
                                                     kernels[i][None, None])[:, 0]
                          for i in range(2)])
    torch.testing.assert_close(out.detach().cpu(), direct)


@pytest.mark.parametrize("device", DEVICES)
def test_the_objectives_lookahead_on_the_device(device: str) -> None:
    """On the device's own generator: an objective preparing four calls at once gives each
    call the logits and gradient of one drawing per call, and leaves the generator as it."""
    from physsim.objective import ClassifierObjective
    from physsim.testing import linear_toy_classifier

    pipe = _pipe(None, device, alpha=make_texture()[3:].to(device))
    model = linear_toy_classifier(size=SIZE).to(device)
    x = make_texture(seed=4)[None, :3].to(device)
    objs = [ClassifierObjective(model, 3, renderer=pipe, samples=4, lookahead=la,
                                generator=torch.Generator(device=device).manual_seed(5))
            for la in (1, 4)]
    for _ in range(6):
        (l1, g1, o1), (l2, g2, o2) = (o.value_and_grad(x, lambda lg: lg[..., 0]) for o in objs)
        torch.testing.assert_close(l2, l1, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(g2, g1, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(o2, o1, rtol=1e-5, atol=1e-6)
        assert torch.equal(objs[0].generator.get_state(), objs[1].generator.get_state())
    assert g2.device.type == device
