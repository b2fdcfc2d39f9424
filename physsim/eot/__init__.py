"""The differentiable world: camera pose, compositing, lighting, printer, photo, pipeline."""
