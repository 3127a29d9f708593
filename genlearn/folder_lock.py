"""An exclusive, non-blocking lock on an open file, released when the file closes: fcntl on POSIX, msvcrt on Windows."""

from __future__ import annotations

from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


def try_lock(file: BinaryIO) -> bool:
    """Lock ``file`` for this process; False if another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:  # BlockingIOError on POSIX, PermissionError on Windows
        return False
    return True
