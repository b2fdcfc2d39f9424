"""The Pipeline: shapes, replay, chunked gradients, evaluation grids, bad inputs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from eot_textures import make_texture

from physsim.eot.params import EOTParams
from physsim.eot.pipeline import EOTConfig, Pipeline
from physsim.errors import UserError
from physsim.objective import ClassifierObjective, Renderer
from physsim.testing import linear_toy_classifier


def _pipe(size: int = 16, **kwargs: object) -> Pipeline:
    return Pipeline(EOTConfig.model_validate({}), output_size=(size, size),
                    size_mm=(750.0, 750.0), **kwargs)  # type: ignore[arg-type]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_render_shapes_and_range(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    params = pipe.sample(5, _gen())
    x = torch.stack([texture, make_texture(seed=3)])
    out = pipe.render(x, params)
    assert out.shape == (2, 5, 3, 16, 16) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    renderer: Renderer = pipe  # the protocol ClassifierObjective renders through
    assert all(callable(getattr(renderer, m)) for m in ("sample", "select", "render"))


def test_rgb_texture_uses_the_pipeline_alpha(texture: torch.Tensor) -> None:
    rgba = _pipe(16).render(texture[None], p := _pipe(16).sample(3, _gen()))
    rgb = _pipe(16, alpha=texture[3:]).render(texture[None, :3], p)
    torch.testing.assert_close(rgb, rgba)


def test_every_texture_sees_the_same_world(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    params = pipe.sample(4, _gen())
    both = pipe.render(torch.stack([texture, texture]), params)
    torch.testing.assert_close(both[0], both[1])
    pairs = pipe.render_pairs(texture[None].expand(4, -1, -1, -1),
                              torch.full((4, 2), 750.0), params)
    torch.testing.assert_close(pairs, both[0])


def test_same_seed_same_images_and_json_replay(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    a, b = pipe.sample(6, _gen(4)), pipe.sample(6, _gen(4))
    assert a.flat().keys() == b.flat().keys()
    assert all(torch.equal(a.flat()[k], b.flat()[k]) for k in a.flat())
    images = pipe.render(texture[None], a)
    assert torch.equal(pipe.render(texture[None], b), images)
    saved = json.loads(json.dumps(a.to_json()))
    replayed = pipe.check(EOTParams.from_json(saved))
    assert torch.equal(pipe.render(texture[None], replayed), images)
    assert pipe.sample(6, _gen(5)).flat()["pose.distance_m"].ne(
        a.flat()["pose.distance_m"]).all()


def test_select_gives_the_same_samples(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    params = pipe.sample(7, _gen())
    full = pipe.render(texture[None], params)
    part = pipe.render(texture[None], pipe.select(params, slice(2, 5)))
    torch.testing.assert_close(part, full[:, 2:5])


def test_chunks_render_as_the_whole_batch_even_with_blurs_wider_than_the_window(
        texture: torch.Tensor) -> None:
    # a blur cut at the window's size used to switch the whole batch's borders from reflected
    # to repeated, so a sample rendered differently with other chunk-mates (by up to 0.2)
    pipe = Pipeline({"transforms": [{"pose": {}}, {"crop": {}}, {"background": {}},
                                    {"gaussian_blur": {"sigma_px": [0, 15]}},
                                    {"motion_blur": {"length_px": [0, 40]}}]},
                    output_size=(24, 20), size_mm=(500.0, 500.0))
    params = pipe.sample(7, _gen(0))
    assert float(params["gaussian_blur"]["sigma_px"].max()) > 8  # wider than the window
    whole = pipe.render(texture[None], params)
    for cut in ((0, 3, 6, 7), tuple(range(8))):
        parts = [pipe.render(texture[None], pipe.select(params, slice(a, b)))
                 for a, b in itertools.pairwise(cut)]
        torch.testing.assert_close(torch.cat(parts, 1), whole)


def test_chunked_eot_gradient_equals_one_batch() -> None:
    model = linear_toy_classifier(size=8)
    pipe = Pipeline({}, output_size=(8, 8), size_mm=(600.0, 600.0),
                    alpha=make_texture(32)[3:])
    x = make_texture(32, seed=5)[None, :3]
    labels = model(torch.rand(1, 3, 8, 8)).argmax(1)

    def loss_fn(logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]),
            reduction="none").view(logits.shape[:2])

    results = []
    for chunk in (None, 3):
        obj = ClassifierObjective(model, 3, renderer=pipe, samples=8, chunk=chunk,
                                  generator=_gen(11))
        results.append(obj.value_and_grad(x, loss_fn))
    (l1, g1, o1), (l2, g2, o2) = results
    assert g1.abs().sum() > 0
    torch.testing.assert_close(l2, l1)
    torch.testing.assert_close(g2, g1, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(o2, o1)


def test_fixed_params_make_an_evaluation_grid(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    free = pipe.sample(4, _gen(2))
    grid = pipe.sample(4, _gen(2), fixed={"pose.distance_m": 4.5,
                                          "pose.yaw_deg": torch.tensor([0.0, 15, 30, 45])})
    assert grid["pose"]["distance_m"].eq(4.5).all()
    assert grid["pose"]["yaw_deg"].tolist() == [0.0, 15.0, 30.0, 45.0]
    # the other draws are untouched
    assert torch.equal(grid["lighting"]["kelvin"], free["lighting"]["kelvin"])
    meta = pipe.render_meta(grid)
    assert meta["distance_m"].eq(4.5).all() and meta["yaw_deg"][3] == 45.0
    assert meta["object_px"][0].item() == pytest.approx(pipe.camera.focal_px * 0.75 / 4.5)
    with pytest.raises(UserError, match=r"unknown EOT parameter 'pose\.distance' \(available:"):
        pipe.sample(2, _gen(), fixed={"pose.distance": 3.0})
    with pytest.raises(UserError, match=r"^--fix: pose\.yaw_deg must be one value or 2 \(one per "
                       r"sample\) of shape \(\), got shape \(3,\)$"):
        pipe.sample(2, _gen(), fixed={"pose.yaw_deg": torch.zeros(3)}, where="--fix")
    with pytest.raises(UserError, match=r"sensor_noise\.seed takes whole numbers"):
        pipe.sample(2, _gen(), fixed={"sensor_noise.seed": 2.5})
    assert pipe.sample(2, _gen(), fixed={"sensor_noise.seed": 7.0})["sensor_noise"]["seed"] \
        .tolist() == [7, 7]
    for value in ("3", True, torch.tensor([True, False]), 1j):
        with pytest.raises(UserError, match=r"^fixed: pose\.distance_m takes numbers, got "):
            pipe.sample(2, _gen(), fixed={"pose.distance_m": value})
    with pytest.raises(UserError, match=r"seed takes whole numbers \(of less than 19 digits"):
        pipe.sample(2, _gen(), fixed={"sensor_noise.seed": 1e30})


@pytest.mark.parametrize("n", [0, -1, True, 1.5])
def test_sample_needs_a_positive_whole_number(n: object) -> None:
    with pytest.raises(UserError, match="number of samples must be a positive whole number"):
        _pipe(8).sample(n, _gen())  # type: ignore[arg-type]


def test_given_backgrounds_replace_the_procedural_ones(texture: torch.Tensor) -> None:
    pipe = Pipeline({"transforms": [{"pose": {}}, {"crop": {"margin": 0.5}},
                                    {"background": {}}]}, output_size=(16, 16),
                    size_mm=(750.0, 750.0))
    params = pipe.sample(2, _gen())
    bg = torch.zeros(2, 3, 16, 16)
    bg[1] = 1.0
    out = pipe.render(texture[None], params, background=bg)[0]
    assert out[0, :, 0, 0].eq(0).all() and out[1, :, 0, 0].eq(1).all()  # corners: background
    with pytest.raises(UserError, match="background must have shape"):
        pipe.render(texture[None], params, background=torch.zeros(2, 3, 8, 8))


def test_object_steps_act_on_the_object_only(texture: torch.Tensor) -> None:
    dark = {"lighting": {"exposure_stops": -3, "contrast": 1, "gamma": 1, "kelvin": 6500,
                         "shadow": 0}}
    pipe = Pipeline({"transforms": [{"pose": {}}, {"crop": {"margin": 0.5}}, dark,
                                    {"background": {"kind": "flat", "gray": 0.5}}]},
                    output_size=(16, 16), size_mm=(750.0, 750.0))
    out = pipe.render(texture[None], pipe.sample(1, _gen()))[0, 0]
    assert out[:, 0, 0].eq(0.5).all()  # the background kept its grey
    assert out[:, 8, 8].max() < 0.5  # the object got three stops darker


def test_dtype_and_device_are_honoured(texture: torch.Tensor) -> None:
    pipe = _pipe(8, dtype=torch.float64)
    params = pipe.sample(2, _gen())
    assert params["pose"]["distance_m"].dtype == torch.float64
    assert params["sensor_noise"]["seed"].dtype == torch.int64
    assert pipe.render(texture[None], params).dtype == torch.float64


def test_gradient_reaches_the_texture_through_the_whole_pipeline() -> None:
    pipe = Pipeline({"transforms": [
        {"pose": {"distance_m": [2, 4], "yaw_deg": [-30, 30]}}, {"crop": {}}, {"printer": {}},
        {"lighting": {}}, {"background": {}}, {"defocus": {}}, {"motion_blur": {}},
        {"sensor_noise": {}}, {"jpeg": {}}]}, output_size=(8, 8), size_mm=(500.0, 500.0),
        dtype=torch.float64)
    params = pipe.sample(2, _gen(1))
    x = (0.3 + 0.4 * make_texture(8, seed=2)[None, :3]).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: pipe.render(t, params), (x,), eps=1e-6,
                                    atol=1e-4, fast_mode=True)


def test_gradient_reaches_the_alpha_of_an_rgba_texture() -> None:
    # a constant alpha's coverage takes no gradient (the render records none through it); an
    # RGBA texture's own alpha does, through the outline, the compositing and every step after
    pipe = Pipeline({"transforms": [
        {"pose": {"distance_m": [2, 4], "yaw_deg": [-30, 30]}}, {"crop": {}}, {"printer": {}},
        {"lighting": {}}, {"background": {}}, {"defocus": {}}, {"jpeg": {}}]},
        output_size=(8, 8), size_mm=(500.0, 500.0), dtype=torch.float64)
    params = pipe.sample(2, _gen(3))
    rgba = 0.2 + 0.6 * make_texture(8, seed=4)[None].double()
    x = rgba.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: pipe.render(t, params), (x,), eps=1e-6,
                                    atol=1e-4, fast_mode=True)
    pipe.render(x, params).sum().backward()
    assert x.grad is not None and x.grad[:, 3].abs().sum() > 0


@pytest.mark.parametrize("shape", [(1, 2, 8, 8), (4, 8, 8), (1, 5, 8, 8), (0, 4, 8, 8),
                                   (1, 4, 0, 0)])
def test_bad_texture_shapes(shape: tuple[int, ...]) -> None:
    pipe = _pipe(8)
    with pytest.raises(UserError, match="expected textures"):
        pipe.render(torch.rand(shape), pipe.sample(1, _gen()))


def test_texture_of_the_wrong_kind_or_range_is_refused(texture: torch.Tensor) -> None:
    pipe = _pipe(8)
    params = pipe.sample(2, _gen())
    for bad, message in ((texture * 255, r"values must be in \[0, 1\], got \[0, 255\]"),
                         (texture - 0.5, r"values must be in \[0, 1\], got \[-0\.5, "),
                         (torch.where(texture > 0.5, float("nan"), texture), r"got \[nan, nan\]"),
                         ((texture * 255).to(torch.uint8), r"floating point .* torch\.uint8")):
        with pytest.raises(UserError, match=r"^EOT pipeline: (texture|textures) .*" + message):
            pipe.render(bad[None], params)
    with pytest.raises(UserError, match=r"floating point .* torch\.uint8"):
        pipe.render_pairs((texture * 255).to(torch.uint8).expand(2, -1, -1, -1),
                          torch.full((2, 2), 500.0), params)
    for alpha in (texture[3], texture[3:] * 2, texture[3:].to(torch.uint8)):
        with pytest.raises(UserError, match=r"alpha must be a \(1, H, W\) float tensor"):
            _pipe(8, alpha=alpha)


def test_bad_render_pairs_inputs(texture: torch.Tensor) -> None:
    pipe = _pipe(8)
    params = pipe.sample(2, _gen())
    with pytest.raises(UserError, match=r"textures must have shape \(2, 4, H, W\)"):
        pipe.render_pairs(texture[None], torch.full((2, 2), 500.0), params)
    for size in (-5.0, float("inf"), float("nan")):
        with pytest.raises(UserError, match="size_mm must be"):
            pipe.render_pairs(texture[None].expand(2, -1, -1, -1), torch.full((2, 2), size),
                              params)
    # each object is checked at its own size (a kilometre-wide one at 1.5 m rendered, silently)
    near = pipe.sample(2, _gen(), fixed={"pose.distance_m": 1.5, "pose.yaw_deg": 40.0})
    with pytest.raises(UserError, match=r"^render_pairs: pose: sample 1 \(distance_m 1\.5, "
                                        r".*\) puts the 1e\+06 x 500 mm object within 1 cm"):
        pipe.render_pairs(texture[None].expand(2, -1, -1, -1),
                          torch.tensor([[500.0, 500.0], [1e6, 500.0]]), near)


def _corrupt(params: EOTParams, label: str, name: str, value: object | None) -> EOTParams:
    data = params.to_json()
    if value is None:
        del data["transforms"][label][name]
    else:
        data["transforms"][label][name] = value
    return EOTParams.from_json(data)


@pytest.mark.parametrize(("label", "name", "value", "message"), [
    ("pose", "yaw_deg", None, r"missing pose\.yaw_deg \(the 'pose' step has distance_m, "),
    ("crop", "zoom", [1.0, 1.0], r"unknown crop\.zoom \(the 'crop' step has margin, "),
    ("pose", "distance_m", [[1.0, 2.0], [3.0, 4.0]],
     r"pose\.distance_m must be float values of shape \(n\), got float values of shape "
     r"\(2, 2\)"),
    ("sensor_noise", "seed", [0.5, 0.25], r"sensor_noise\.seed must be integer values"),
    ("lighting", "gamma", [1.0, float("nan")], r"lighting\.gamma must be finite"),
    ("pose", "distance_m", [2.0, 0.0], r"pose\.distance_m must be positive .* got 0$"),
    ("pose", "yaw_deg", [10.0, -95.0], r"pose\.yaw_deg must be strictly between -90 and 90 "),
    ("crop", "margin", [-0.1, 0.1], r"crop\.margin must be between 0 and 4, got -0\.1"),
    ("crop", "shift_x", [0.0, 3.0], r"crop\.shift_x must be between -1 and 1 \(jitter is "),
    ("pose", "offset_x", [50.0, 0.0], r"pose\.offset_x must be between -1 and 1 \(the "),
    ("lighting", "kelvin", [500.0, 5000.0], r"lighting\.kelvin must be between 1000 and "),
    ("defocus", "sigma_px", [0.5, -1.0], r"defocus\.sigma_px must be between 0 and 50, got -1$"),
    ("defocus", "sigma_px", [0.5, 500.0], r"defocus\.sigma_px must be between 0 and 50, got "),
    ("motion_blur", "length_px", [-2.0, 1.0], r"motion_blur\.length_px must be between 0 and "),
    ("sensor_noise", "gaussian_std", [-0.1, 0.0], r"sensor_noise\.gaussian_std must be betw"),
    ("lighting", "contrast", [1.0, 9.0], r"lighting\.contrast must be above 0 and at most 4"),
    ("printer", "ink_gain", [[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]],
     r"printer\.ink_gain must be between 0\.5 and 1\.5, got -1$"),
    ("background", "kind", [0, 99], r"background\.kind must be a scene number from 0 to 4"),
    ("jpeg", "quality", [0.5, 50.0], r"jpeg\.quality must be between 1 and 100, got 0\.5$"),
])
def test_replayed_params_are_checked(label: str, name: str, value: object | None,
                                     message: str) -> None:
    pipe = _pipe(8)
    params = pipe.sample(2, _gen())
    assert pipe.check(EOTParams.from_json(params.to_json())).flat().keys() == params.flat().keys()
    with pytest.raises(UserError, match=r"^saved\.json: " + message):
        pipe.check(_corrupt(params, label, name, value), "saved.json")


def test_replayed_whole_numbers_are_floats_where_floats_are_drawn() -> None:
    pipe = _pipe(8)
    params = pipe.sample(2, _gen())
    data = params.to_json()
    data["transforms"]["pose"]["distance_m"] = [3, 5]  # as a person would write them
    replayed = pipe.check(EOTParams.from_json(data))
    assert replayed["pose"]["distance_m"].dtype == torch.float32
    assert replayed["pose"]["distance_m"].tolist() == [3.0, 5.0]
    assert replayed["sensor_noise"]["seed"].dtype == torch.int64


def test_replayed_flat_background_is_checked() -> None:
    pipe = Pipeline({"transforms": [{"pose": {}}, {"background": {"kind": "flat"}}]},
                    output_size=(8, 8), size_mm=(750.0, 750.0))
    params = pipe.sample(2, _gen())
    with pytest.raises(UserError, match=r"background\.gray must be between 0 and 1, got 1\.5"):
        pipe.check(_corrupt(params, "background", "gray", [0.5, 1.5]))


def test_params_for_another_pipeline_are_refused() -> None:
    other = Pipeline({"transforms": [{"pose": {}}]}, output_size=(8, 8))
    params = other.sample(2, _gen())
    with pytest.raises(UserError, match="params are for the steps"):
        _pipe(8).check(EOTParams.from_json(params.to_json()))
    with pytest.raises(UserError, match="not an EOT params document"):
        EOTParams.from_json({"n": 2})
    bad = params.to_json()
    bad["transforms"]["pose"]["distance_m"] = [1.0]
    with pytest.raises(UserError, match=r"pose\.distance_m must have 2 rows"):
        EOTParams.from_json(bad)


def test_render_needs_the_object_size(texture: torch.Tensor) -> None:
    pipe = Pipeline({}, output_size=(8, 8))
    with pytest.raises(UserError, match="size_mm"):
        pipe.render(texture[None], pipe.sample(1, _gen()))
    with pytest.raises(UserError, match="size_mm must be a positive"):
        Pipeline({}, output_size=(8, 8), size_mm=(0.0, 10.0))
    with pytest.raises(UserError, match="output_size must be positive"):
        Pipeline({}, output_size=(0, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_render_replays_and_matches_cpu_params(texture: torch.Tensor) -> None:
    pipe = _pipe(16, device="cuda")
    params = pipe.sample(4, torch.Generator(device="cuda").manual_seed(0))
    x = texture[None].cuda().requires_grad_(True)
    out = pipe.render(x, params)
    assert out.device.type == "cuda" and out.shape == (1, 4, 3, 16, 16)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    again = pipe.render(x.detach(), pipe.check(EOTParams.from_json(params.to_json())))
    torch.testing.assert_close(again, out.detach())
    # (params held on the CPU, and render_pairs, on CUDA: tests/eot/test_devices.py)
    # the same params rendered on the CPU give the same picture up to float rounding (which
    # may tip a JPEG coefficient here and there, hence a mean)
    cpu = _pipe(16).render(texture[None], _pipe(16).check(EOTParams.from_json(params.to_json())))
    assert (cpu - out.detach().cpu()).abs().mean() < 2e-3


def test_a_low_resolution_camera_records_less_detail() -> None:
    # the same view through a 1920 px and a 160 px wide sensor, both cropped to 64 px windows:
    # the small sensor saw the object as ~12 px, so its window cannot be sharper than that
    size = 128
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    stripes = (((yy // 4) + (xx // 4)) % 2).float().expand(1, 3, size, size)

    def detail(width: int) -> float:
        cfg = {"camera": {"fov_deg": 50, "resolution": [width, width * 9 // 16]},
               "transforms": [{"pose": {"distance_m": 4.0, "yaw_deg": 0, "pitch_deg": 0,
                                        "roll_deg": 0, "offset": 0}},
                              {"crop": {"margin": 0.0, "jitter": 0.0}}]}
        pipe = Pipeline(cfg, output_size=(64, 64), size_mm=(750.0, 750.0))
        img = pipe.render(stripes, pipe.sample(1, _gen()))[0, 0, 0]
        return float((img[1:] - img[:-1]).abs().mean() + (img[:, 1:] - img[:, :-1]).abs().mean())

    assert detail(160) < 0.5 * detail(1920)


def _near_pipe(distance: object, size_mm: tuple[float, float] = (750.0, 750.0),
               **pose: object) -> Pipeline:
    return Pipeline({"transforms": [{"pose": {"distance_m": distance, **pose}}, {"crop": {}}]},
                    output_size=(16, 16), size_mm=size_mm)


def test_ranges_that_bring_the_object_behind_the_camera_are_refused() -> None:
    # a 750 mm sign 10 cm away reaches behind the camera at almost any angle
    with pytest.raises(UserError, match=r"^eot\.transforms\[0\]\.pose\.distance_m: at 0\.1 m, "
                                        r"turned up to 45 degrees of yaw and 10 of pitch, the 750 "
                                        r"x 750 mm object could come within 1 cm of the camera "
                                        r"or pass behind it: for these angles, keep it at least "
                                        r"0\.4 m away$"):
        _near_pipe([0.1, 3])
    _near_pipe([0.4, 3])  # the distance the message gives is enough
    # ... but a 2 m poster 1 m away, turned 45 degrees, keeps its near edge 29 cm away: the
    # bound follows the angles, not only the object's size
    _near_pipe([1.0, 3], (2000.0, 1000.0), yaw_deg=[-45, 45], roll_deg=0, offset=0)
    # the same sign, and a small print, at distances where every pose is in front
    _near_pipe([1.5, 12])
    _near_pipe([0.2, 0.5], (100.0, 100.0))
    # turned to 80 degrees at 30 cm, the edge of the sign (53 cm from its centre at a corner)
    # passes the camera; up to 30 degrees, with no pitch or offset, it does not
    with pytest.raises(UserError, match=r"up to 80 degrees of yaw"):
        _near_pipe(0.3, yaw_deg=[0, 80], pitch_deg=0, roll_deg=0, offset=0)
    _near_pipe(0.3, yaw_deg=[0, 30], pitch_deg=0, offset=0)


def test_what_a_pipeline_draws_passes_its_own_check() -> None:
    # the poses nearest the camera lie inside the ranges (a yaw of -49 and a pitch of 60
    # degrees here), not at their ends: the bound covers every pose, so every draw replays
    pipe = _near_pipe([0.6, 3], yaw_deg=[-80, 80], pitch_deg=[-60, 60], roll_deg=[-180, 180])
    params = pipe.sample(4096, _gen())
    pipe.check(EOTParams.from_json(params.to_json()))
    with pytest.raises(UserError, match=r"for these angles, keep it at least 0\.55 m away"):
        _near_pipe([0.47, 3], yaw_deg=[-80, 80], pitch_deg=[-60, 60])
    # a sign 48 cm away turned up to 60 degrees (its corners stay 8.7 cm away at worst)
    _near_pipe([0.48, 3], yaw_deg=[-60, 60], pitch_deg=[-10, 10], roll_deg=[-8, 8])


def test_an_evaluation_grid_is_checked_against_the_pipeline() -> None:
    pipe = _near_pipe([1.5, 12])
    pipe.check_reach(distances=[1.5, 3.0], yaws=[0, 45], where="evaluation.grid")
    with pytest.raises(UserError, match=r"^evaluation\.grid: at 0\.2 m, turned up to 45 "):
        pipe.check_reach(distances=[0.2, 3.0], yaws=[0, 45], where="evaluation.grid")
    with pytest.raises(UserError, match=r"the 3000 x 3000 mm object"):  # a larger object
        pipe.check_reach((3000.0, 3000.0), where="patch.objects")


def test_given_and_replayed_poses_behind_the_camera_are_refused() -> None:
    pipe = _near_pipe([1.5, 12])
    with pytest.raises(UserError, match=r"^--fix: pose: sample 1 \(distance_m 0\.05, "):
        pipe.sample(3, _gen(), {"pose.distance_m": torch.tensor([2.0, 0.05, 3.0])},
                    where="--fix")
    with pytest.raises(UserError, match=r"^fixed: pose\.distance_m must be positive"):
        pipe.sample(2, _gen(), {"pose.distance_m": -1.0})
    params = pipe.sample(2, _gen())
    with pytest.raises(UserError, match=r"^p\.json: pose: sample 0 \(distance_m 0\.2, "):
        pipe.check(_corrupt(params, "pose", "distance_m", [0.2, 3.0]), "p.json")
    assert pipe.sample(2, _gen(), {"pose.distance_m": 4.0}).values["pose"]["distance_m"].eq(
        4).all()


@pytest.mark.parametrize("device", ["mps", "cuda:7"])
def test_a_device_this_machine_lacks_is_one_line(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(UserError, match=r"^EOT pipeline: (not a device name|CUDA was asked|"
                                        r"there is no CUDA device)"):
        Pipeline({}, output_size=(8, 8), device=device)


def test_a_list_of_n_values_gives_each_sample_one_for_a_param_with_several() -> None:
    pipe = Pipeline({"transforms": [{"printer": {"ink_jitter": [0, 0.2]}}]}, output_size=(8, 8))
    given = torch.tensor([1.1, 1.2, 1.3])
    gains = pipe.sample(3, _gen(), {"printer.ink_gain": given}).values["printer"]["ink_gain"]
    assert gains.shape == (3, 3) and torch.equal(gains, given.view(3, 1).expand(3, 3))
    one = pipe.sample(2, _gen(), {"printer.ink_gain": 1.2}).values["printer"]["ink_gain"]
    assert one.eq(torch.tensor(1.2)).all()


def test_float64_pipelines_accept_their_own_extreme_draws() -> None:
    pipe = Pipeline({"transforms": [{"motion_blur": {"angle_deg": [-360, 360]}}]},
                    output_size=(8, 8), dtype=torch.float64)
    params = pipe.sample(4, _gen(), {"motion_blur.angle_rad": torch.tensor(
        [-360.0, 360.0, 0.0, 90.0]).deg2rad()})
    assert params.n == 4


def test_cpu_devices_by_index_and_the_manifest_profile_digest(tmp_path: Path) -> None:
    import hashlib
    import shutil

    from physsim.eot import printer

    Pipeline({}, output_size=(8, 8), device=torch.device("cpu", 0))
    profile = tmp_path / "mine.json"
    shutil.copy(Path(printer.__file__).parent / "profiles" / "default.json", profile)
    digest = hashlib.sha256(profile.read_bytes()).hexdigest()
    pipe = Pipeline({"transforms": [{"printer": {"profile": str(profile)}}]}, output_size=(8, 8))
    profile.unlink()  # gone (or changed) after the run began: the manifest has what was used
    assert pipe.inputs() == {"printer": {"profile": str(profile), "sha256": digest}}


@pytest.mark.parametrize(("size", "prefilter", "rgba"),
                         [(64, True, False), (64, True, True), (48, True, False),
                          (64, False, False)])
def test_prepared_samples_render_the_same_images_and_gradients(size: int, prefilter: bool,
                                                               rgba: bool) -> None:
    """Batches prepared together (prepare_many) render what each batch's own params render
    and back-propagate the same gradient, to float rounding (an elementwise function over a
    larger batch may round a last bit differently; on this machine they are bit for bit the
    same); so does a selection of one prepared batch. For a power-of-two texture (grids
    prepared), one that is not (grids worked out per batch), RGBA and RGB, with and without
    prefiltering, batches of unequal sizes."""
    tex = make_texture(size, seed=3)
    pipe = Pipeline({"prefilter": prefilter}, output_size=(12, 12), size_mm=(750.0, 750.0),
                    alpha=None if rgba else tex[3:])
    x = (tex if rgba else tex[:3])[None].clone().requires_grad_(True)
    gen = _gen(8)
    batches = [pipe.sample(n, gen) for n in (5, 3, 6)]
    parts = pipe.prepare_many(batches, (size, size))
    assert [p.n for p in parts] == [5, 3, 6]
    assert all(bool(p.grids) == (size == 64) and (p.plan is None) != prefilter for p in parts)
    for params, part in zip(batches, parts, strict=True):
        own = pipe.render(x, params)
        (g_own,) = torch.autograd.grad(own.square().sum(), x)
        ahead = pipe.render(x, part)
        (g_ahead,) = torch.autograd.grad(ahead.square().sum(), x)
        torch.testing.assert_close(ahead, own, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(g_ahead, g_own, rtol=1e-5, atol=1e-7)
        # a chunk of a prepared batch renders as the chunk of its params (its levels are
        # grouped anew: the part's grouping is for all of its samples)
        chunk = pipe.render(x, pipe.select(params, slice(1, 3)))
        for prepared in (pipe.prepare(params, (size, size)), part):
            torch.testing.assert_close(pipe.render(x, pipe.select(prepared, slice(1, 3))),
                                       chunk, rtol=1e-6, atol=1e-6)
    assert pipe.prepare_many([], (size, size)) == []


def test_prepared_samples_are_for_one_texture_size(texture: torch.Tensor) -> None:
    pipe = _pipe(16)
    prepared = pipe.prepare(pipe.sample(2, _gen()), (32, 32))
    with pytest.raises(UserError, match="prepared for 32 x 32 px textures, not 64 x 64"):
        pipe.render(texture[None], prepared)
    with pytest.raises(UserError, match="needs the object's size"):
        Pipeline({}, output_size=(16, 16)).prepare(pipe.sample(2, _gen()), (64, 64))


def _objective(pipe: Pipeline, lookahead: int | None) -> ClassifierObjective:
    model = linear_toy_classifier(size=8)
    return ClassifierObjective(model, 3, renderer=pipe, samples=4,
                               generator=_gen(21), lookahead=lookahead)


def test_a_lookahead_draws_renders_and_leaves_the_generator_as_each_call_would() -> None:
    """An objective that prepares several calls' samples at once gives every call the same
    logits and gradient as one that draws per call (to float rounding), and its generator is
    exactly where the other's is after every call: also when something else draws from it
    between calls, or sets its state back (a checkpoint restored), or a call is a
    prediction."""
    pipe = Pipeline({}, output_size=(8, 8), size_mm=(600.0, 600.0), alpha=make_texture(32)[3:])
    x = make_texture(32, seed=5)[None, :3]

    def loss_fn(logits: torch.Tensor) -> torch.Tensor:
        return logits[..., 0]

    plain, ahead = _objective(pipe, 1), _objective(pipe, 3)
    assert ahead.lookahead == 3
    saved: list[torch.Tensor] = []
    for call in range(8):
        results = []
        for obj in (plain, ahead):
            if call == 5:
                obj.generator.set_state(saved[0])  # a checkpoint restored
            out = (obj.predict(x) if call == 2 else obj.value_and_grad(x, loss_fn))
            results.append((out, obj.generator.get_state()))
            if call == 3:
                torch.rand(2, generator=obj.generator)  # someone else draws
        (a, state_a), (b, state_b) = results
        assert torch.equal(state_a, state_b), call
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,),
                        strict=True):
            torch.testing.assert_close(v, u, rtol=1e-5, atol=1e-7, msg=f"call {call}")
        if call == 1:
            saved.append(state_a)
    assert (plain.forwards, ahead.forwards) == (8, 8)


def test_a_lookahead_prepares_once_per_l_calls_and_backs_off_when_it_cannot_last() -> None:
    """Calls take their samples from one preparation of L calls; when something else keeps
    drawing from the generator between calls (each preparation would be thrown away but for
    one call), it prepares fewer, down to none, and more again once that stops; the results
    stay those of drawing per call throughout. A failed preparation leaves the generator as
    the failing call alone would have."""
    pipe = Pipeline({}, output_size=(8, 8), size_mm=(600.0, 600.0), alpha=make_texture(32)[3:])
    x = make_texture(32, seed=5)[None, :3]
    batches: list[int] = []
    prepare_many = pipe.prepare_many

    def counting(draws: Any, size: tuple[int, int]) -> Any:
        batches.append(len(draws))
        return prepare_many(draws, size)

    pipe.prepare_many = counting  # type: ignore[method-assign]
    ahead, plain = _objective(pipe, 4), _objective(pipe, 1)
    for _ in range(8):
        torch.testing.assert_close(ahead.logits(x), plain.logits(x))
    assert batches == [4, 4]
    for _ in range(8):  # another user of the generator draws after every call
        torch.testing.assert_close(ahead.logits(x), plain.logits(x))
        for obj in (ahead, plain):
            torch.rand(1, generator=obj.generator)
    assert batches == [4, 4, 4, 2]  # then none: each call draws its own
    for _ in range(8):
        torch.testing.assert_close(ahead.logits(x), plain.logits(x))
    assert batches == [4, 4, 4, 2, 2, 4, 4] and torch.equal(ahead.generator.get_state(),
                                                            plain.generator.get_state())
    broken = Pipeline({}, output_size=(8, 8))  # no size_mm: cannot render
    failed = []
    for obj in (_objective(broken, 4), _objective(broken, 1)):
        with pytest.raises(UserError, match="needs the object's size"):
            obj.logits(x)
        failed.append(obj.generator.get_state())
    assert torch.equal(failed[0], failed[1])


def test_how_many_calls_an_objective_prepares_at_once() -> None:
    """At small windows many calls at once, fewer as windows and samples grow, none where
    one call's windows are large, none for a renderer that cannot prepare, and none by
    default for an objective that evaluates its samples in chunks (to bound memory)."""
    from physsim.objective import lookahead_calls

    assert lookahead_calls(Pipeline({}, output_size=(32, 32)), 8) == 16
    assert lookahead_calls(Pipeline({}, output_size=(32, 32)), 32) == 4
    assert lookahead_calls(Pipeline({}, output_size=(64, 64)), 8) == 4
    assert lookahead_calls(Pipeline({}, output_size=(224, 224)), 8) == 1
    assert lookahead_calls(object(), 8) == 1
    pipe = Pipeline({}, output_size=(8, 8))
    assert _objective(pipe, None).lookahead == 16
    model = linear_toy_classifier(size=8)
    assert ClassifierObjective(model, 3, renderer=pipe, samples=4, chunk=2).lookahead == 1
    assert ClassifierObjective(model, 3, renderer=pipe, samples=4, chunk=2,
                               lookahead=3).lookahead == 3
