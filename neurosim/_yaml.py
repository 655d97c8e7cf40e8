"""The YAML boundary: ``yaml.safe_load`` semantics, duplicate keys refused, errors located."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


def load_yaml_mapping(path: Path, error: type[InputError] = InputError) -> dict:
    """Read ``path`` as a YAML mapping; every failure raises ``error`` naming the file."""
    name = str(path)
    if path.is_dir():
        raise error(name, None, "is a directory, not a YAML file")
    if not path.exists():
        raise error(name, None, "no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(name, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(name, None, f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as dup:
        raise error(f"{name}:{dup.line}", str(dup.key), "duplicate key") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(where, None, f"not valid YAML: {problem}") from None
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
