"""Typed results ↔ JSON, field by field: a dataclass's fields carry the JSON names and their types say how to check.

`read_record(cls, data, where)` builds a dataclass from a JSON object: each field is read by its annotated type
(a number, a whole number, a string, true/false, a list, a nested dataclass, `X | None`), an absent key or null
gives the field's default (a field without one is required), and a value of the wrong type raises
`FormatError("requests[3].e2e_ms", "expected a number, got a string")`. Keys no field asked for (results.json only
ever gains fields: a newer writer's) go into the record's `extra` and `fields_json` writes them back, so rewriting
a file (a manual score) keeps them. Numbers are kept as written (an int stays an int), so a file reads back
unchanged.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

T = TypeVar("T")
# Types read by a function of their own (prompt specs, model tags): the JSON object → the value.
Readers = Mapping[Any, Callable[[dict[str, Any], str], Any]]


class FormatError(Exception):
    """What is wrong and where in the file; `BenchResults.from_json` turns it into a BadInputError naming the file."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)


def kind(value: object) -> str:
    """'a string', 'a list', 'null': how a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expect_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(where, f"expected an object, got {kind(value)}")
    return value


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


_SCALARS: dict[Any, tuple[str, Callable[[object], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def convert(tp: Any, value: object, where: str, readers: Readers) -> Any:
    """`value` checked (and built) as type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return convert(inner, value, where, readers)
    if tp in readers:
        return readers[tp](expect_object(value, where), where)
    if tp in _SCALARS:
        expected, ok = _SCALARS[tp]
        if not ok(value):
            raise FormatError(where, f"expected {expected}, got {kind(value)}")
        return value
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise FormatError(where, f"expected a list, got {kind(value)}")
        if args[0] in _SCALARS and all(map(_SCALARS[args[0]][1], value)):
            return list(value)  # every ITL gap of every request: the common case, checked without a call per item
        return [convert(args[0], item, _at(where, i), readers) for i, item in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise FormatError(where, f"expected a list of {len(args)} values, got {kind(value)}")
        return tuple(
            convert(a, item, _at(where, i), readers) for i, (a, item) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        return expect_object(value, where)
    if dataclasses.is_dataclass(tp):
        return read_record(cast(type[Any], tp), value, where, readers)
    raise TypeError(f"no JSON reader for {tp!r}")  # a field type this module was not taught: a bug, not bad input


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:  # resolving string annotations is slow: once per class
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def read_record(cls: type[T], data: object, where: str = "", readers: Readers | None = None) -> T:
    """A dataclass from a JSON object (see the module docstring)."""
    obj = expect_object(data, where)
    hints = _hints(cast(type[Any], cls))
    values: dict[str, Any] = {}
    known: set[str] = set()
    has_extra = False
    for f in dataclasses.fields(cast(Any, cls)):
        if f.name == "extra":
            has_extra = True
            continue
        known.add(f.name)
        value = obj.get(f.name)
        if value is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FormatError(_at(where, f.name), "missing")
            continue  # absent or null: the field's default
        values[f.name] = convert(hints[f.name], value, _at(where, f.name), readers or {})
    if has_extra:
        values["extra"] = {k: v for k, v in obj.items() if k not in known}
    return cast(T, cast(Any, cls)(**values))


def json_default(value: Any) -> Any:
    """`json.dumps(default=…)` for what results hold besides plain values: records (their JSON), numpy scalars."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_PLAIN = frozenset({int, float, str, bool, type(None)})


def plain(value: Any) -> Any:
    """A JSON value: records by their `to_json` (or `to_dict`, or their fields), tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for method in ("to_json", "to_dict"):
            if hasattr(value, method):
                return getattr(value, method)()
        return fields_json(value)
    if isinstance(value, list | tuple):
        if all(type(v) in _PLAIN for v in value):
            return list(value)  # numbers and strings (ITL gaps): no call per item
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def fields_json(record: Any) -> dict[str, Any]:
    """Every field of a dataclass under its own name; an `extra` field's keys (read from a newer file) last."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name == "extra":
            extra = getattr(record, f.name)
        else:
            out[f.name] = plain(getattr(record, f.name))
    for key, value in extra.items():
        out.setdefault(key, value)
    return out
