"""Keep glibc from growing the heap without bound during PatchCore coreset selection.

glibc raises its mmap threshold dynamically as large blocks are freed; inside Lightning the
coreset loop then grew RSS by ~13 MB per iteration until the machine ran out of memory.
Pinning the threshold (which also disables the dynamic adjustment) keeps memory flat. This must
run before torch allocates anything, so every entry point imports ``adlab`` first.
"""
from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD_BYTES = 131072
_M_MMAP_THRESHOLD = -3  # from malloc.h


def pin_mmap_threshold() -> bool:
    """Set the threshold for this process and, via the environment, for its children."""
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_BYTES))
    try:
        # The process's own symbols include libc's; ctypes.util.find_library("c") would spawn
        # ldconfig, which costs every command ~10 ms.
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to pin
        return False


MALLOPT_APPLIED = pin_mmap_threshold()
