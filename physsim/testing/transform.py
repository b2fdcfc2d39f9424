"""The contracts every EOT transform keeps: image-space and geometric."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
import torch

from physsim.eot.base import (
    Camera,
    Frame,
    GeometricTransform,
    Transform,
    params_from_json,
    params_to_json,
)
from physsim.testing._common import _options_reject_unknown_keys


class _SampledParams:
    """The tests every transform shares: strict options, seeded and replayable params, a
    shape- and range-preserving, differentiable ``apply``.

    The concrete contracts provide ``transform_class``, ``options``, ``_params`` and
    ``_images``.
    """

    transform_class: ClassVar[type[Transform]]
    options: ClassVar[dict[str, Any]] = {}

    def _params(self, n: int = 3, seed: int = 0) -> Any:
        raise NotImplementedError

    def _images(self) -> torch.Tensor:
        raise NotImplementedError

    def test_options_reject_unknown_keys(self) -> None:
        _options_reject_unknown_keys(self.transform_class, self.options)

    def test_same_seed_same_params(self) -> None:
        a, b = self._params(seed=5), self._params(seed=5)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape[0] == 3, k
            assert torch.equal(a[k], b[k]), k

    def test_params_replay_from_json(self) -> None:
        t = self.transform_class(self.options)
        params = self._params()
        replayed = params_from_json(json.loads(json.dumps(params_to_json(params))))
        x = self._images()
        torch.testing.assert_close(t.apply(x, params), t.apply(x, replayed))

    def test_drawn_params_pass_check_params(self) -> None:
        t = self.transform_class(self.options)
        for seed in range(3):
            t.check_params(self._params(seed=seed))

    def test_shape_and_range(self) -> None:
        t = self.transform_class(self.options)
        x = self._images()
        y = t.apply(x, self._params())
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0 and y.max() <= 1

    def test_differentiable(self) -> None:
        t = self.transform_class(self.options)
        x = self._images().requires_grad_(True)
        t.apply(x, self._params()).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


class TransformContract(_SampledParams):
    """A transform samples JSON-serialisable, replayable params from a seed, and applies them
    as a pure, shape- and range-preserving, differentiable function.

    Set ``transform_class``; optionally ``options``, ``image_size`` and ``gradcheck``.
    """

    transform_class: ClassVar[type[Transform]]
    options: ClassVar[dict[str, Any]] = {}
    image_size: ClassVar[int] = 16
    #: run torch.autograd.gradcheck in float64 (off for transforms with discrete steps)
    gradcheck: ClassVar[bool] = True

    def _images(self, n: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        return torch.rand(n, 3, self.image_size, self.image_size, generator=g, dtype=dtype)

    def _params(self, n: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
        t = self.transform_class(self.options)
        return t.sample(n, torch.Generator().manual_seed(seed))

    def test_has_name_and_kind(self) -> None:
        assert self.transform_class.name
        assert self.transform_class.kind == "transform"

    def test_prepared_params_apply_the_same(self) -> None:
        """What ``prepare`` returns (nothing, by default) changes nothing: ``apply`` with it
        beside the params, or with some of its rows beside the same rows of the params (a
        pipeline prepares many steps' samples as one batch), gives the same images, to float
        rounding."""
        t = self.transform_class(self.options)
        x = self._images(4)
        params = self._params(4)
        prepared = t.prepare(params, (self.image_size, self.image_size), x.dtype)
        for k, v in prepared.items():
            assert k.startswith("prepared_") and k not in params, k
            assert v.shape[0] == 4, k
        torch.testing.assert_close(t.apply(x, {**params, **prepared}), t.apply(x, params),
                                   rtol=1e-6, atol=1e-6)
        rows = slice(1, 3)
        part = {k: v[rows] for k, v in params.items()}
        torch.testing.assert_close(
            t.apply(x[rows], {**part, **{k: v[rows] for k, v in prepared.items()}}),
            t.apply(x[rows], part), rtol=1e-6, atol=1e-6)

    def test_gradcheck(self) -> None:
        if not self.gradcheck:
            pytest.skip("transform has discrete steps; gradcheck disabled")
        t = self.transform_class(self.options)
        params = {k: v.double() if v.is_floating_point() else v for k, v in self._params(1).items()}
        g = torch.Generator().manual_seed(1)
        # keep away from [0, 1] edges where a clamp has no derivative
        x = (0.25 + 0.5 * torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64))
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda im: t.apply(im, params), (x,), eps=1e-6,
                                        atol=1e-4)


class GeometricTransformContract(_SampledParams):
    """A geometric transform samples replayable params and composes into the homography: its
    :meth:`~physsim.eot.base.GeometricTransform.compose` returns a finite, invertible (n, 3, 3)
    map that keeps the object in view, and its stand-alone ``apply`` warps images, keeping
    shape, dtype and [0, 1], differentiably.

    Set ``transform_class``; optionally ``options`` and ``image_size``.
    """

    transform_class: ClassVar[type[GeometricTransform]]
    options: ClassVar[dict[str, Any]] = {}
    image_size: ClassVar[int] = 16

    def _params(self, n: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
        return self.transform_class(self.options).sample(n, torch.Generator().manual_seed(seed))

    def _images(self, n: int = 3) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        return torch.rand(n, 3, self.image_size, self.image_size, generator=g)

    def _frame(self, n: int) -> Frame:
        s = self.image_size
        size_mm = torch.full((n, 2), 500.0, dtype=torch.float64)
        return Frame.texture((s, s), size_mm, Camera.from_fov(50.0, (640, 480)))

    def test_has_name_and_kind(self) -> None:
        assert self.transform_class.name
        assert self.transform_class.kind == "transform"
        assert issubclass(self.transform_class, GeometricTransform)
        frames = {"texture", "camera", "window"}
        assert self.transform_class.accepts and set(self.transform_class.accepts) <= frames
        assert self.transform_class.produces in frames

    def test_compose_gives_invertible_matrices(self) -> None:
        t = self.transform_class(self.options)
        if "texture" not in t.accepts:
            pytest.skip("the transform does not start from the texture frame")
        frame = t.compose(self._frame(3), self._params(), (16, 16))
        m = frame.matrix
        assert m.shape == (3, 3, 3) and torch.isfinite(m).all()
        assert (torch.linalg.det(m).abs() > 1e-12).all()
        assert frame.name == t.produces
        assert frame.px_scale.shape == (3,) and (frame.px_scale > 0).all()
        # the texture centre lands in front of the camera, inside the frame
        s = self.image_size
        centre = m @ torch.tensor([(s - 1) / 2, (s - 1) / 2, 1.0], dtype=m.dtype)
        assert (centre[:, 2] > 0).all()
        xy = centre[:, :2] / centre[:, 2:]
        h, w = frame.size
        assert ((xy[:, 0] >= 0) & (xy[:, 0] <= w) & (xy[:, 1] >= 0) & (xy[:, 1] <= h)).all()

    def test_gradcheck(self) -> None:
        t = self.transform_class(self.options)
        params = {k: v.double() if v.is_floating_point() else v for k, v in self._params(1).items()}
        g = torch.Generator().manual_seed(1)
        x = torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64).requires_grad_(True)
        # fast mode checks a random projection of the Jacobian (a resampling touches every
        # pixel, so the full Jacobian costs seconds)
        assert torch.autograd.gradcheck(lambda im: t.apply(im, params), (x,), eps=1e-6,
                                        atol=1e-4, fast_mode=True)
