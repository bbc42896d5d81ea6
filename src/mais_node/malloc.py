"""The C allocator keeps a few MiB of freed memory instead of handing it back to the kernel after every free.

glibc gives the top of a heap back to the kernel once more than its trim threshold (256 KiB at first) lies free
there. Every audit record is compressed with ``zlib.compress``, whose state is ~260 KiB allocated and freed per call:
over the threshold, so each record's compression handed those pages back and faulted them in again, ~45 µs of the
writer thread's CPU a record against ~3 µs with the pages kept (docs/performance.md, issue 17 second pass). The
bytes compressed are the same either way: only where the memory comes from changes.

Setting the trim threshold turns off glibc's dynamic thresholds, so the mmap threshold is set with it (large blocks
are still mapped and unmapped on their own). On another C library (no ``mallopt``) nothing is changed.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("mais_node")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 4 << 20  # free memory kept at the top of each heap: bounded, a few MiB an arena
MMAP_THRESHOLD = 1 << 20  # blocks at least this large get their own mapping (as glibc's default grows towards)


def keep_freed_memory() -> bool:
    """Apply the thresholds above to this process; False when the C library has no ``mallopt`` (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not applied:
        log.warning("the C allocator refused its thresholds: freed memory is handed back as before")
    return applied
