"""The YAML boundary: ``yaml.safe_load`` semantics on a bounded regular file; duplicate keys,
aliases, deep nesting and overlong scalars refused; errors located."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from neurosim._read import read_regular
from neurosim.errors import InputError


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser if built
    """SafeLoader (libyaml's when available) that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise _DuplicateKey(key, line)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        self.key = key
        self.line = line


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


MAX_DEPTH = 32
"""The deepest nesting of mappings and sequences accepted."""
MAX_SCALAR_CHARS = 4096
"""The longest scalar accepted; numbers: :data:`MAX_NUMBER_CHARS`."""
MAX_NUMBER_CHARS = 40
_NUMBER = re.compile(r"[-+]?(\.?[0-9]|0x|0o)", re.IGNORECASE)


def _check_events(text: str) -> None:
    """Refuse, before anything is built, what a configuration file never needs: aliases
    (``*name``, the way to a billion laughs), nesting deeper than :data:`MAX_DEPTH`, and
    scalars longer than :data:`MAX_SCALAR_CHARS` (numbers: :data:`MAX_NUMBER_CHARS`)."""
    depth = 0
    for ev in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(ev, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(ev, yaml.AliasEvent):
            raise _Refused(ev, f"a YAML alias (*{str(ev.anchor)[:40]}): aliases are not accepted")
        elif isinstance(ev, yaml.ScalarEvent):
            v = ev.value
            if len(v) > MAX_SCALAR_CHARS:
                raise _Refused(ev, f"a value of {len(v)} characters (at most {MAX_SCALAR_CHARS})")
            if ev.style is None and len(v) > MAX_NUMBER_CHARS and _NUMBER.match(v):
                raise _Refused(ev, f"a number of {len(v)} characters (at most {MAX_NUMBER_CHARS})")


class _Refused(Exception):
    def __init__(self, event, problem: str) -> None:
        self.line = event.start_mark.line + 1 if event.start_mark is not None else None
        self.problem = problem


def load_yaml_mapping(path: Path, error: type[InputError] = InputError) -> dict:
    """Read ``path`` as a YAML mapping; every failure raises ``error`` naming the file."""
    name = str(path)
    raw = read_regular(path, error, what="YAML file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(name, None, f"not UTF-8 text (byte {exc.start})") from None
    try:
        _check_events(text)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except _Refused as bad:
        raise error(f"{name}:{bad.line}" if bad.line else name, None, f"refused: {bad.problem}") from None
    except _DuplicateKey as dup:
        raise error(f"{name}:{dup.line}", str(dup.key)[:80], "duplicate key") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(where, None, f"not valid YAML: {str(problem)[:120]}") from None
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:  # a constructor's
        raise error(name, None, f"not valid YAML: {type(exc).__name__}: {str(exc)[:100]}") from None
    if data is None:
        raise error(name, None, "file is empty", expected="a YAML mapping")
    if not isinstance(data, dict):
        raise error(name, None, f"top level is a {type(data).__name__}, not a mapping",
                    expected="a YAML mapping of keys to values")
    return data


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter if built
    """Lists of scalars on one line (``[1, 2, 3]``); everything else in block style."""

    def represent_list(self, data):
        flow = all(isinstance(v, (int, float, str, bool)) or v is None for v in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow or None)


_Dumper.add_representer(list, _Dumper.represent_list)


def dump_yaml(data: dict) -> str:
    """Serialise plain data to YAML, keys in their given order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
