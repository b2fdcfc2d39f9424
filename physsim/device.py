"""Device names from scene files and options: ``cpu``, ``cuda`` or ``cuda:N``, nothing else.

``torch.device`` accepts many more names (``mps``, ``meta``, ``xla``...), which fail later in
the middle of a run with PyTorch's own message; physsim runs on CPU and CUDA, so anything else
is refused up front with one line naming where the name came from.
"""

from __future__ import annotations

import re

import torch

from physsim.errors import UserError

_NAME = re.compile(r"cpu|cuda(:\d+)?")


def resolve_device(name: str, where: str = "device") -> torch.device:
    """``name`` as a :class:`torch.device` that exists on this machine.

    Raises:
        UserError: not ``cpu``, ``cuda`` or ``cuda:N``; or CUDA asked for where there is none
            (or fewer devices than N + 1).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise UserError(f"not a device name: {name!r} (use cpu, cuda or cuda:N)", where)
    device = torch.device(name.strip())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("CUDA was asked for but no CUDA device is available", where)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"there is no CUDA device {device.index} (this machine has "
                            f"{torch.cuda.device_count()})", where)
    return device
