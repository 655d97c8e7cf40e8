"""Bounded reads of input files: regular files only, within a size limit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from neurosim.errors import InputError

MAX_TEXT_BYTES = 64 << 20
"""The largest text input read (profiles, cards, specs, fits, texts, manifests)."""


def read_regular(path: Path, error: type[InputError] = InputError, limit: int = MAX_TEXT_BYTES,
                 what: str = "file") -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; anything else (a
    missing file, a directory, a FIFO, a device, a symlink loop, a larger file, one that
    grows while read) raises ``error`` in one line naming the file."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(name, None, f"no such {what}") from None
    except OSError as exc:  # ELOOP, EACCES, ENAMETOOLONG ...
        raise error(name, None, f"cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(name, None, f"is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(name, None, f"not a regular file (a pipe, socket or device), not a {what}")
    if st.st_size > limit:
        raise error(name, None, f"{what} too large", got=f"{st.st_size} bytes",
                    expected=f"at most {limit} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(name, None, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(name, None, f"{what} too large", expected=f"at most {limit} bytes")
    return data


def numpy_problem(exc: BaseException) -> str:
    """What went wrong reading a .npy/.npz file, in a few words: numpy's own message names
    ``allow_pickle``, which must never be the advice for a file from elsewhere."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "pickle" in text.lower() or "python objects" in text.lower():
        return "holds Python objects (not a plain array), which are never loaded"
    return text[:100]
