"""Find shipped YAML files by name (``loihi2``, ``loihi2.yaml``) or by path."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from neurosim.errors import NotFoundError

# Package data: hw_profiles/, models/ (with models/slices/, models/traffic/). The repository's
# top-level hw_profiles/ and models/ are links to these directories.
DATA_ROOT = Path(os.fspath(files("neurosim") / "data"))


def shipped_dir(name: str, env: str) -> Path:
    """Directory of shipped files: ``$<env>`` if set, else the package's ``data/<name>``."""
    override = os.environ.get(env)
    return Path(override) if override else DATA_ROOT / name


def shipped_names(directory: Path) -> list[str]:
    """Sorted stems of the ``*.yaml`` files in ``directory``."""
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml"))


def resolve(ref: str | os.PathLike, directory: Path, what: str) -> Path:
    """Path for ``ref``: an existing path as given, else a shipped name.

    ``loihi2`` and ``loihi2.yaml`` both name ``<directory>/loihi2.yaml``; a name that
    is neither an existing path nor shipped raises :class:`NotFoundError` listing the
    choices.
    """
    text = os.fspath(ref)
    if not text.strip():
        raise NotFoundError(repr(text), None, f"an empty {what} name",
                            expected=f"a path to a YAML file or one of: "
                                     f"{', '.join(shipped_names(directory))}")
    path = Path(text)
    if path.exists() or path.is_symlink():  # a dangling or looping link: the reader says so
        return path
    looks_like_path = os.sep in text or (os.altsep and os.altsep in text)
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    candidate = directory / f"{stem}.yaml"
    if not looks_like_path and candidate.exists():
        return candidate
    choices = shipped_names(directory)
    raise NotFoundError(
        text, None, f"no such {what} file or shipped {what}",
        expected=f"a path to a YAML file or one of: {', '.join(choices)}",
    )
