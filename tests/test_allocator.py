"""physsim.allocator: glibc's malloc keeps large freed blocks when (and only when) asked."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from click.testing import CliRunner

import physsim.allocator
from physsim.cli import cli

_LIBC, _VERSION = platform.libc_ver()
glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _LIBC != "glibc"
    or tuple(int(p) for p in _VERSION.split(".")[:2]) < (2, 33),
    reason="glibc 2.33 or later only (mallinfo2)")

# In a fresh interpreter: is a 4 MB block served by its own mmap (the C library's default for
# blocks over 128 KB) or from the heap? glibc's mallinfo2 counts the mmapped blocks.
PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks",
                                                "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "physsim":
    from physsim.allocator import retain_freed_memory
    print(retain_freed_memory())
before = libc.mallinfo2().hblks
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def _probe(mode: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHYSSIM_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         env={**clean, **env}, timeout=60, check=True)
    return out.stdout.split()


@glibc
def test_large_blocks_come_from_the_heap_once_retained() -> None:
    assert _probe("default") == ["1"]  # the C library maps a 4 MB block on its own
    assert _probe("physsim") == ["True", "0"]  # kept on the heap, reused after a free


@glibc
def test_physsim_malloc_system_leaves_the_defaults() -> None:
    assert _probe("physsim", PHYSSIM_MALLOC="system") == ["False", "1"]


def test_the_command_line_retains_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(physsim.allocator, "retain_freed_memory", lambda: calls.append(True))
    result = CliRunner().invoke(cli, ["plugins", "--kind", "transform"])
    assert result.exit_code == 0, result.output
    assert calls == [True]
