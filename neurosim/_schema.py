"""Schema building blocks shared by hardware profiles and model cards.

Plain YAML is validated once, here, into frozen pydantic objects; everything after the
boundary uses typed attributes.  Validation failures become one :class:`InputError` naming
the file, the key path, the value and what would have been valid.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from neurosim.errors import InputError

SCHEMA_VERSION = 1

T = TypeVar("T")


class Strict(BaseModel):
    """Base for every schema object: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Calibration(Strict):
    """Where a calibrated number comes from: fitted to one measurement.

    ``measurement`` begins with a key of the file's ``references`` table and says what was
    measured, on what setup; ``fitted_to`` is the measured figure the number reproduces.
    """

    measurement: str = Field(min_length=1)
    fitted_to: str = Field(min_length=1)


PROVENANCE_KEYS = ("source", "assumed", "calibrated")
"""The keys that say where a quantity's value comes from; a quantity has exactly one."""


class Quantity(Strict, Generic[T]):
    """A number with its provenance: exactly one of ``source``, ``assumed`` or
    ``calibrated`` is given.

    ``source`` must begin with a key of the file's ``references`` table, e.g.
    ``"davies2018 Table 2"``; ``assumed`` states why the value was chosen; ``calibrated``
    names the measurement the value was fitted to (:class:`Calibration`).
    """

    value: T
    source: str | None = None
    assumed: str | None = None
    calibrated: Calibration | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _no_booleans(cls, v: Any) -> Any:
        """``true`` is not the number 1: refuse booleans where numbers go."""
        items = v.values() if isinstance(v, dict) else v if isinstance(v, list) else [v]
        if any(isinstance(x, bool) for x in items):
            raise ValueError("a boolean is not a number")
        return v

    @model_validator(mode="after")
    def _one_provenance(self) -> Quantity:
        given = [k for k in PROVENANCE_KEYS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "every number needs its provenance: give exactly one of 'source' "
                "(a reference key and where in it), 'assumed' (why this value) or "
                "'calibrated' (measurement, fitted_to)"
            )
        return self

    def __float__(self) -> float:
        return float(self.value)  # type: ignore[arg-type]

    @property
    def provenance(self) -> str:
        if self.calibrated is not None:
            return (f"calibrated: fitted to {self.calibrated.fitted_to} "
                    f"({self.calibrated.measurement})")
        return self.source if self.source else f"assumed: {self.assumed}"


_REF_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)")


def iter_quantities(obj: Any, path: tuple = ()) -> typing.Iterator[tuple[tuple, Quantity]]:
    """Yield ``(key_path, quantity)`` for every Quantity inside a schema object."""
    if isinstance(obj, Quantity):
        yield path, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from iter_quantities(getattr(obj, name), (*path, name))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_quantities(v, (*path, k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from iter_quantities(v, (*path, i))


def check_references(root: Any, references: dict[str, str]) -> None:
    """Every ``source`` and calibration ``measurement`` must start with a key of
    ``references``, and no measurement may calibrate two numbers (raises ValueError)."""
    calibrated: dict[str, tuple] = {}
    for path, q in iter_quantities(root):
        if q.calibrated is not None:
            _check_reference((*path, "calibrated", "measurement"), q.calibrated.measurement,
                             references)
            where = calibrated.setdefault(q.calibrated.measurement.strip(), path)
            if where != path:
                raise _LocatedValueError(
                    (*path, "calibrated", "measurement"), q.calibrated.measurement,
                    "this measurement already calibrates " + ".".join(map(str, where)),
                    "one calibrated number per measurement")
        elif q.source is not None:
            _check_reference((*path, "source"), q.source, references)


def _check_reference(loc: tuple, text: str, references: dict[str, str]) -> None:
    m = _REF_KEY.match(text.strip())
    if not m or m.group(1) not in references:
        raise _LocatedValueError(
            loc, text, f"{loc[-1]} does not start with a key of 'references'",
            f"one of {', '.join(sorted(references)) or '(none defined)'}",
        )


class _LocatedValueError(ValueError):
    def __init__(self, loc: tuple, value: Any, problem: str, expected: str) -> None:
        super().__init__(problem)
        self.loc, self.value, self.problem, self.expected = loc, value, problem, expected


# --- pydantic error -> one line -------------------------------------------------------


def _union_member(tp: Any, tag: Any) -> type[BaseModel] | None:
    """The member of a tagged union of models whose literal tag field equals ``tag``."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    for member in typing.get_args(tp):
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        for field in member.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(
                field.annotation
            ):
                return member
    return None


def _clean_loc(model: type[BaseModel], loc: tuple) -> tuple[tuple, list[str] | None]:
    """Drop union tags from ``loc``; also return the field names valid at its parent."""
    current: Any = model
    clean: list = []
    parent_fields: list[str] | None = None
    for i, part in enumerate(loc):
        member = _union_member(current, part) if isinstance(part, str) else None
        if member is not None and not _has_field(current, part):
            current = member
            continue
        if i == len(loc) - 1:
            unwrapped = _unwrap_model(current)
            if isinstance(unwrapped, type) and issubclass(unwrapped, BaseModel):
                parent_fields = list(unwrapped.model_fields)
        clean.append(part)
        current = _descend(current, part) if current is not None else None
    return tuple(clean), parent_fields


def _has_field(tp: Any, name: str) -> bool:
    tp = _unwrap_model(tp)
    return isinstance(tp, type) and issubclass(tp, BaseModel) and name in tp.model_fields


def _unwrap_model(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        models = [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if len(models) == 1 else tp
    if origin is typing.Annotated:
        return _unwrap_model(typing.get_args(tp)[0])
    return tp


def _descend(tp: Any, part: Any) -> Any:
    tp = _unwrap_model(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _lookup(data: Any, loc: tuple) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return _NO_VALUE
    return data


_NO_VALUE = object()


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "finite_number": "a finite number",
}


def translate(
    exc: ValidationError,
    model: type[BaseModel],
    data: dict,
    file: str,
    error: type[InputError],
) -> InputError:
    """Turn the first pydantic error into one located, readable InputError."""
    errors = exc.errors(include_url=False)
    # A misspelt key also makes its correct name "missing": report the spelling first.
    err = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    raw_loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    ctx = err.get("ctx") or {}
    if raw_loc and raw_loc[-1] == "[key]":  # a mapping's key, not its value, is wrong
        loc, _ = _clean_loc(model, raw_loc[:-1])
        return error(file, _key_path(loc), "not an allowed key", got=loc[-1],
                     expected=f"one of {ctx.get('expected', '')}".strip())
    loc, valid = _clean_loc(model, raw_loc)
    inner = ctx.get("error")
    if isinstance(inner, _LocatedValueError):
        return error(file, _key_path(inner.loc), inner.problem, got=inner.value,
                     expected=inner.expected)
    kind = err["type"]
    key = _key_path(loc)
    value = _lookup(data, loc)
    if value is _NO_VALUE:  # not in the document as given: what pydantic saw, if anything
        value = err.get("input", _missing())
    if kind == "extra_forbidden":
        valid = valid or []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else None
        expected = hint or ("one of " + ", ".join(valid) if valid else "no other keys here")
        return error(file, key, "unknown key", got=loc[-1], expected=expected)
    if kind == "missing":
        return error(file, key, "required key is missing")
    if kind in ("literal_error", "enum"):
        return error(file, key, "not an allowed value", got=value,
                     expected=f"one of {ctx.get('expected', '')}".strip())
    if kind == "union_tag_invalid":
        tag_key = str(ctx.get("discriminator", "")).strip("'")
        key = _key_path((*loc, tag_key)) if tag_key else key
        return error(file, key, "not an allowed value", got=ctx.get("tag"),
                     expected=f"one of {ctx.get('expected_tags', '')}")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}",
                 "less_than": "< {lt}", "less_than_equal": "<= {le}"}[kind].format(**ctx)
        return error(file, key, "out of range", got=value, expected=f"a number {bound}")
    if kind == "value_error":
        msg = str(inner) if inner is not None else err["msg"]
        return error(file, key, msg, got=value)
    expected = _EXPECTED.get(kind)
    got = value
    if expected:
        return error(file, key, "wrong type", got=got, expected=expected)
    return error(file, key, err["msg"].lower(), got=got)


def _missing() -> Any:
    return InputError._MISSING


def validate(
    model: type[BaseModel], data: dict, file: str | Path, error: type[InputError]
) -> Any:
    """Validate ``data`` into ``model`` or raise one located ``error``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, model, data, str(file), error) from None


def check_schema_version(data: dict, file: str, error: type[InputError]) -> None:
    """Refuse files written for another schema version, before anything else."""
    if "schema_version" not in data:
        raise error(file, "schema_version", "required key is missing",
                    expected=str(SCHEMA_VERSION))
    got = data["schema_version"]
    if got != SCHEMA_VERSION or isinstance(got, bool):
        raise error(file, "schema_version", "unsupported schema version", got=got,
                    expected=str(SCHEMA_VERSION))


def load_document(
    path: Path,
    tag_key: str,
    kinds: dict[str, type[BaseModel]],
    error: type[InputError],
) -> Any:
    """Read, version-check and validate a YAML document whose class is chosen by ``tag_key``."""
    from neurosim._yaml import load_yaml_mapping

    file = str(path)
    data = load_yaml_mapping(path, error)
    check_schema_version(data, file, error)
    if tag_key not in data:
        raise error(file, tag_key, "required key is missing", expected=f"one of {', '.join(kinds)}")
    tag = data[tag_key]
    if not isinstance(tag, str) or tag not in kinds:
        raise error(file, tag_key, "not an allowed value", got=tag,
                    expected=f"one of {', '.join(kinds)}")
    return validate(kinds[tag], data, file, error)


def to_plain(obj: BaseModel) -> dict:
    """Plain, YAML-safe data of a schema object (None-valued keys left out)."""
    return obj.model_dump(mode="python", exclude_none=True)
