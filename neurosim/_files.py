"""Checksummed result directories: SHA-256, a JSON manifest, atomic replacement."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neurosim.errors import InputError


def strict_json(data: Any, what: str, **kwargs: Any) -> str:
    """``data`` as JSON without NaN or infinity (which JSON has not): the first non-finite
    number raises :class:`InputError` naming its key path in ``what``."""
    try:
        return json.dumps(data, allow_nan=False, default=str, **kwargs)
    except ValueError:
        raise InputError(what, _non_finite(data) or None, "a computed figure is not finite",
                         expected="finite numbers (check the profile's values)") from None


def _non_finite(data: Any, path: str = "") -> str:
    """The key path of the first NaN or infinity in ``data`` ("" if none)."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(value)"
    items = data.items() if isinstance(data, dict) else enumerate(data) \
        if isinstance(data, list | tuple) else ()
    for k, v in items:
        found = _non_finite(v, f"{path}.{k}" if path else str(k))
        if found:
            return found
    return ""


SEAL = "manifest_sha256"
"""The key of a manifest's own checksum: SHA-256 of its other keys as canonical JSON."""


def _manifest_digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != SEAL}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     allow_nan=False).encode()).hexdigest()


def seal(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its own checksum under :data:`SEAL` (JSON-native values only)."""
    return {**meta, SEAL: _manifest_digest(meta)}


def check_seal(meta: dict[str, Any], where: str, redo: str) -> None:
    """Refuse a manifest whose own checksum is missing or does not match its content (it was
    edited or damaged after it was written)."""
    try:
        ok = meta.get(SEAL) == _manifest_digest(meta)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(where, SEAL, "the manifest does not match its checksum: it was edited "
                         "or damaged after it was written", expected=redo)


def file_sha256(*paths: Path) -> str:
    """SHA-256 of the files' bytes, concatenated in order."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the complete directory ``tmp`` to ``out``; an old ``out`` is removed only after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


MANIFESTS = ("result.json", "artifact.json", "trace.json", "router.json")
"""The manifests of neurosim's output directories."""


def replaceable(out: Path) -> bool:
    """Whether ``--force`` may replace the directory ``out``: it is empty or a neurosim
    output (of any kind); a directory of other files never is."""
    return not any(out.iterdir()) or any((out / m).is_file() for m in MANIFESTS)


@contextmanager
def set_aside(out: Path, manifest: str) -> Iterator[None]:
    """Around the writing of a new ``out``: an existing ``out`` without ``manifest`` (one
    ``--force`` may replace) is moved to a hidden sibling, put back if the block fails and
    removed once it succeeds."""
    if not out.is_dir() or (out / manifest).is_file():
        yield
        return
    keep = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced.", dir=out.parent))
    os.replace(out, keep / "old")
    try:
        yield
    except BaseException:
        if not out.exists():
            os.replace(keep / "old", out)
            keep.rmdir()
        raise
    shutil.rmtree(keep, ignore_errors=True)


def write_dir(out: Path, manifest: str, header: dict[str, Any],
              write: Callable[[Path], list[str]], what: str) -> dict[str, Any]:
    """Write directory ``out`` atomically and return its manifest.

    ``write(tmp)`` writes the files into a temporary sibling and returns their names; the JSON
    manifest ``manifest`` holds ``header`` and each file's SHA-256 under ``files``.  An
    existing ``out`` without that manifest is refused (not a ``what``); on any failure the
    temporary directory is removed and ``out`` is left as it was.
    """
    out = Path(out)
    if out.exists() and not (out / manifest).is_file():
        raise InputError(str(out), None, f"exists and is not a {what}; not overwriting")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = write(tmp)
        meta = seal({**header, "files": {n: file_sha256(tmp / n) for n in names}})
        (tmp / manifest).write_text(json.dumps(meta, indent=1))
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def read_manifest(path: Path, name: str, fmt: str, version: int, what: str,
                  command: str) -> dict[str, Any]:
    """The JSON manifest ``path/name`` of a ``fmt`` directory, checked for format, version and
    its own checksum (:func:`check_seal`)."""
    mf = path / name
    try:
        meta = json.loads(mf.read_text())
    except FileNotFoundError:
        raise InputError(str(path), None, f"not a {what} (no {name})",
                         expected=f"a directory written by `{command}`") from None
    except (OSError, ValueError) as exc:
        raise InputError(str(mf), None, f"cannot read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise InputError(str(mf), "format", f"not a {what}",
                         got=meta.get("format") if isinstance(meta, dict) else meta, expected=fmt)
    if meta.get("version") != version:
        raise InputError(str(mf), "version", f"unsupported {what} version",
                         got=meta.get("version"), expected=str(version))
    check_seal(meta, str(mf), f"the manifest as `{command}` wrote it; run it again")
    return meta


def verify_files(path: Path, digests: list[tuple[str, str]], verify: bool, redo: str) -> None:
    """Refuse a listed file that is missing or (``verify``) whose SHA-256 differs."""
    for name, digest in digests:
        f = path / name
        if not f.is_file():
            raise InputError(str(f), None, "missing file", expected=f"the file listed; {redo}")
        if verify and file_sha256(f) != digest:
            raise InputError(str(f), None, "SHA-256 mismatch: the file is truncated or corrupted",
                             expected=f"sha256 {digest[:16]}...; {redo}")


def read_safetensors(path: Path) -> dict[str, Any]:
    """The numpy tensors of a safetensors file, refusing an unreadable one."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise InputError(str(path), None, f"cannot read: {exc}") from None
