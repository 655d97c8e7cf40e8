"""Offline English text that ships with CPython: the ``pydoc_data.topics`` help pages.

The topics are sorted by name and dealt alternately into two disjoint parts, calibration
(even positions) and evaluation (odd positions), each joined with blank lines.  A text
argument is either one of those names or a path to a UTF-8 file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from neurosim._read import read_regular
from neurosim.errors import InputError

BUILTIN = {"pydoc-calib": 0, "pydoc-eval": 1}


@dataclass(frozen=True)
class Text:
    """A text and where it came from."""

    name: str
    body: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


def load_text(ref: str | Path) -> Text:
    """``pydoc-calib``, ``pydoc-eval`` or a path to a UTF-8 text file."""
    ref = str(ref)
    if ref in BUILTIN:
        from pydoc_data.topics import topics

        part = [topics[k] for i, k in enumerate(sorted(topics)) if i % 2 == BUILTIN[ref]]
        return Text(ref, "\n\n".join(part))
    path = Path(ref)
    if not path.exists() and not path.is_symlink():
        raise InputError(ref, None, "no such text file",
                         expected=f"a UTF-8 text file or one of: {', '.join(BUILTIN)}")
    raw = read_regular(path, what="text file")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(ref, None, f"not UTF-8 text (byte {exc.start})") from None
    if not body.strip():
        raise InputError(ref, None, "text is empty")
    return Text(str(path), body)
