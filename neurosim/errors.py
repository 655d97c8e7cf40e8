"""One exception root for neurosim.

Every user-facing error derives from :class:`NeurosimError` and also from the builtin it
resembles, so callers may catch either.  The CLI prints ``str(err)`` of a ``NeurosimError``
on one line and exits 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "NeurosimError",
    "InputError",
    "ProfileError",
    "ModelCardError",
    "NotFoundError",
    "NotImplementedYet",
    "BackendError",
]


class NeurosimError(Exception):
    """Root of every error neurosim raises on purpose."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 2, 6, 6, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 40


def _show(value: Any) -> str:
    """At most 80 characters of ``value``, without building its whole text (a container is
    cut by :mod:`reprlib`; a number is cut before it is turned into digits)."""
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        text = _REPR.repr(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        text = f"an integer of {value.bit_length()} bits"
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class InputError(NeurosimError, ValueError):
    """Bad user input, located by file and key path.

    Renders as ``<file>: <key.path>: <problem> (got <value>; expected <expected>)``;
    parts that do not apply are left out.
    """

    _MISSING = object()

    def __init__(
        self,
        file: str | None,
        key: str | None,
        problem: str,
        *,
        got: Any = _MISSING,
        expected: str | None = None,
    ) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.got = got
        self.expected = expected
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        text = ": ".join([*parts, self.problem])
        detail = []
        if self.got is not self._MISSING:
            detail.append(f"got {_show(self.got)}")
        if self.expected:
            detail.append(f"expected {self.expected}")
        if detail:
            text += f" ({'; '.join(detail)})"
        return text


class ProfileError(InputError):
    """A hardware profile that cannot be read or is invalid."""


class ModelCardError(InputError):
    """A model card that cannot be read or is invalid."""


class NotFoundError(InputError, LookupError):
    """A named thing (profile, model card, backend) that does not exist."""


class NotImplementedYet(NeurosimError, NotImplementedError):
    """A command or option that exists but whose engine has not landed."""


class BackendError(NeurosimError, RuntimeError):
    """A simulation backend cannot serve a request: not installed, outside its declared
    capabilities, or its run failed, hung or disagreed with its own cross-checks."""
