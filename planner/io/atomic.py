"""Replace a file atomically: write a temporary file beside it, then rename it over it.

* The target is resolved first: a symbolic link is written *through* (its target is
  replaced, the link stays), a read-only file is refused, a folder that is missing or is a
  file is refused with a message, never a traceback.
* Temporary files are named ``.<name>.planner-XXXXXXXX.tmp``.  They are removed when the
  write fails or is interrupted (an exception, or SIGTERM through the CLI's handler, which
  calls :func:`remove_live_temps`); one left behind by ``kill -9`` is swept by the next
  write into the same folder once it is :data:`STALE_SECONDS` old.
* The data is flushed and fsync'ed before the rename, so the target is always either the
  old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from planner.errors import OutputError

#: Temporary files of planner's own naming (and only those) are swept.
TEMP_PATTERN = re.compile(r"^\..+\.planner-[a-z0-9_]{8}\.tmp$")
#: Age after which a temporary file of planner's naming is taken as abandoned (seconds).
STALE_SECONDS = 15 * 60

_LIVE: set[str] = set()


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the disk"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def resolve_target(path: str | Path) -> Path:
    """The file a write to ``path`` replaces (a symlink's target), checked.

    Raises
    ------
    OutputError
        The folder is missing or is a file, the target is a folder, not a regular file,
        or read-only.
    """
    out = Path(path)
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    parent = out.parent
    if not parent.exists():
        raise OutputError(f"{parent}: no such folder")
    if not parent.is_dir():
        raise OutputError(f"{parent}: is a file, not a folder; choose an output in a folder")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder")
    if out.exists():
        mode = out.stat().st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{out}: is not a regular file")
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise OutputError(f"{out}: the file is read-only; planner does not replace a read-only "
                              "file (make it writable, or write to another file)")
    return out


def sweep(folder: Path, now: float | None = None) -> list[Path]:
    """Remove temporary files of planner's naming older than :data:`STALE_SECONDS`."""
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not TEMP_PATTERN.match(entry.name) or str(Path(entry.path)) in _LIVE:
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def remove_live_temps() -> None:
    """Remove the temporary files of writes in progress (for a signal handler)."""
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _mode_for(path: Path) -> int:
    """Permissions of the file being replaced, else the default for a new file."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def open_temp(fd: int) -> BinaryIO:
    """The temporary file as a binary stream (a seam for tests that fill the disk)."""
    return os.fdopen(fd, "wb")


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it over ``path``.

    Returns
    -------
    Path
        The file replaced (the target of ``path`` when it is a symbolic link).

    Raises
    ------
    OutputError
        The target is unusable (see :func:`resolve_target`) or the file system refused the
        write (no space, permission); nothing is left behind.
    """
    target = resolve_target(path)
    sweep(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.planner-", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot create a file in this folder ({_reason(exc)})") from None
    _LIVE.add(tmp)
    try:
        with open_temp(fd) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot be written ({_reason(exc)})") from None
    finally:
        _LIVE.discard(tmp)
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target
