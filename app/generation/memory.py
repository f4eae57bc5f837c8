"""Give a worker's freed memory back to the system.

After a batch, the KV cache and activations (hundreds of MB) are garbage, but glibc keeps
freed heap pages in its arenas (one per thread that allocated), so the process's RSS
stays at its peak: 3.4 GB after a 110-prompt job in `ranklab serve`. A collection then
`malloc_trim(0)` (which walks every arena) hands the free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_memory() -> None:
    gc.collect()
    _malloc_trim()


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):  # glibc only (not musl, not macOS)
        libc.malloc_trim(0)
