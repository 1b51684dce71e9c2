"""File permissions of atomic writes: a leaf module (standard library only) that every layer may import.

Files written through ``tempfile.mkstemp`` and a rename start as 0600; :func:`new_file_mode` is what ``open()``
would have given them, so they are ``chmod``-ed to it before the rename.
"""

from __future__ import annotations

import os

__all__ = ["current_umask", "new_file_mode"]


def current_umask() -> int:
    """The process's umask, read when called (a umask set after import counts). Linux exposes it in
    /proc/self/status (reading it leaves the umask alone); elsewhere it is read by setting and restoring it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file now: 0o666 less the umask."""
    return 0o666 & ~current_umask()
