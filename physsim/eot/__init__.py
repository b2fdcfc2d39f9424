"""The differentiable world: camera pose, compositing, lighting, printer, photo, pipeline.

Modules: :mod:`~physsim.eot.pipeline` (the :class:`~physsim.eot.pipeline.Pipeline` the rest of
physsim calls, and the ``eot:`` scene section), :mod:`~physsim.eot.base` (the transform
contracts), :mod:`~physsim.eot.camera` (pose and crop), :mod:`~physsim.eot.warp` (one
mip-mapped resampling), :mod:`~physsim.eot.printer`, :mod:`~physsim.eot.lighting`,
:mod:`~physsim.eot.background`, :mod:`~physsim.eot.photo`, :mod:`~physsim.eot.jpeg`,
:mod:`~physsim.eot.rng` (replayable noise), :mod:`~physsim.eot.preview` (``physsim
eot-preview``). The transforms register from :mod:`~physsim.eot.plugin`.
"""
