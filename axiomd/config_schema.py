"""Checks a TOML tree against the settings dataclasses, so each key is written once.

A section's allowed keys, their types and their defaults are the fields of its frozen
dataclass; limits (ranges, choices) ride along in the field's metadata via `setting()`.
Every problem is collected, not raised at the first one, so a pipeline TD fixing a config
sees the whole list in one go, one line per key: `file: dotted.key: problem`.

Hand-written rather than pydantic/msgspec: the rules are few (scalars, lists, tables,
arrays of tables), the messages must be ours word for word, and the dataclasses stay the
plain frozen objects the rest of the code reads.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from axiomd.errors import ConfigError


class ConfigProblems(ConfigError):
    """Every mistake found in one config file, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


BAD: Any = object()
"""Returned in place of a value that was reported as a problem."""

Hook = Callable[["Checker", Any, str, str], Any]


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING,
            at_least: float | None = None, above: float | None = None,
            at_most: float | None = None, choices: tuple[str, ...] | None = None,
            pattern: tuple[str, str] | None = None, starts_with: tuple[str, ...] | None = None,
            nonempty: bool = False, lowercase: bool = False, hash: bool | None = None) -> Any:
    """A dataclass field whose metadata carries the limits the file's value must keep.

    On a list field the limits apply to each element. `pattern` is (regex, what it means).
    """
    limits = {"at_least": at_least, "above": above, "at_most": at_most, "choices": choices,
              "pattern": pattern, "starts_with": starts_with, "nonempty": nonempty,
              "lowercase": lowercase}
    return dataclasses.field(default=default, default_factory=factory, hash=hash,
                             metadata={k: v for k, v in limits.items() if v is not None and v is not False})


def close_match(name: str, known: list[str]) -> str:
    """`did you mean max_width?`, or the known names when none is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known)) or 'none'}"


def unknown(name: str, known: list[str], what: str = "key") -> str:
    return f"unknown {what} ({close_match(name, known)})"


def join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


class _Invalid(Exception):
    """`wrong_type`: the value is not of the type at all (another member of a union may fit)."""

    def __init__(self, key: str, problem: str, wrong_type: bool = False) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem
        self.wrong_type = wrong_type


_NAMES: dict[Any, str] = {str: "a string", bool: "true or false", int: "a whole number",
                          float: "a number", Path: "a path (a string)"}


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if int in members and float in members:
            members.remove(int)
        return " or ".join(_describe(a) for a in members)
    if origin is tuple or tp is tuple:
        return "a list"
    if origin is not None and issubclass(origin, Mapping):
        return "a table"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


class Checker:
    """Walks one file's tree; `problems` holds every line found so far."""

    def __init__(self, source: str, hooks: Mapping[type, Hook] | None = None) -> None:
        self.source = source
        self.hooks = dict(hooks or {})
        self.problems: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.problems.append(f"{self.source}: {key}: {problem}")

    def found_under(self, key: str) -> bool:
        """Whether a problem was reported at `key` or inside it."""
        return any(line.startswith((f"{self.source}: {key}:", f"{self.source}: {key}.",
                                    f"{self.source}: {key}["))
                   for line in self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigProblems(self.problems)

    def table(self, raw: Any, key: str, cls: type, what: str = "key") -> Any:
        """An instance of `cls` from a TOML table: unknown keys, types and limits checked.

        A bad value is reported and its default used, so later checks can go on; BAD when
        the table is not a table or lacks a required key.
        """
        if not isinstance(raw, dict):
            self.add(key, f"expected a table, got {_shown(raw)}")
            return BAD
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        for name in raw:
            if name not in fields:
                self.add(join(key, name), unknown(name, list(fields), what))
        values: dict[str, Any] = {}
        complete = True
        for name, f in fields.items():
            value = (self.value(raw[name], _hints(cls)[name], join(key, name), f.metadata)
                     if name in raw else BAD)
            if value is not BAD:
                values[name] = value
            elif _required(f):
                complete = False
                if name not in raw:
                    self.add(join(key, name), "missing (required)")
        return cls(**values) if complete else BAD

    def value(self, raw: Any, tp: Any, key: str, limits: Mapping[str, Any],
              name: str = "") -> Any:
        """One value of type `tp`; tables and arrays of tables are walked, not raised.

        A hooked type (one the generic rules cannot describe) is built by its hook, given
        the table's name when it is an entry of a table of tables.
        """
        origin, args = get_origin(tp), get_args(tp)
        if tp in self.hooks:
            return self.hooks[tp](self, raw, key, name or key.rsplit(".", 1)[-1])
        if dataclasses.is_dataclass(tp):
            return self.table(raw, key, tp)
        if origin is tuple and len(args) == 2 and _walked(args[0], self.hooks):
            if not isinstance(raw, list):
                self.add(key, f"expected a list of tables, got {_shown(raw)}")
                return BAD
            items = [self.value(item, args[0], f"{key}[{i}]", limits) for i, item in enumerate(raw)]
            return BAD if BAD in items else tuple(items)
        if origin is not None and issubclass(origin, Mapping):
            if not isinstance(raw, dict):
                self.add(key, f"expected a table, got {_shown(raw)}")
                return BAD
            entries = {entry: self.value(item, args[1], join(key, entry), limits, entry)
                       for entry, item in raw.items()}
            return {entry: item for entry, item in entries.items() if item is not BAD}
        try:
            return _scalar(raw, tp, key, limits)
        except _Invalid as exc:
            self.add(exc.key, exc.problem)
            return BAD


def _walked(tp: Any, hooks: Mapping[type, Hook]) -> bool:
    return tp in hooks or dataclasses.is_dataclass(tp)


def _scalar(raw: Any, tp: Any, key: str, limits: Mapping[str, Any]) -> Any:
    """Strings, numbers, booleans, paths, and lists or tables of them; raises `_Invalid`."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return raw
    if origin in (Union, types.UnionType):
        for member in (a for a in args if a is not type(None)):
            try:
                return _scalar(raw, member, key, limits)
            except _Invalid as exc:
                if exc.key != key or not exc.wrong_type:  # the right type, a bad value
                    raise
        raise _Invalid(key, f"expected {_describe(tp)}, got {_shown(raw)}", wrong_type=True)
    if origin is tuple:
        if not isinstance(raw, list):
            raise _Invalid(key, f"expected a list, got {_shown(raw)}", wrong_type=True)
        if limits.get("nonempty") and not raw:
            raise _Invalid(key, "must not be empty")
        return tuple(_scalar(item, args[0], f"{key}[{i}]", limits) for i, item in enumerate(raw))
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(raw, dict):
            raise _Invalid(key, f"expected a table, got {_shown(raw)}", wrong_type=True)
        return {name: _scalar(item, args[1], join(key, name), limits) for name, item in raw.items()}
    if tp is float:
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
        value: Any = float(raw) if ok else None
    elif tp is int:
        ok, value = isinstance(raw, int) and not isinstance(raw, bool), raw
    elif tp is Path:
        ok = isinstance(raw, str) and bool(raw)
        value = Path(raw) if ok else None
    else:
        ok, value = isinstance(raw, tp), raw
        if ok and isinstance(raw, str) and limits.get("lowercase"):
            value = raw.lower()
    if not ok:
        raise _Invalid(key, f"expected {_describe(tp)}, got {_shown(raw)}", wrong_type=True)
    _check_limits(value, key, limits)
    return value


def _shown(raw: Any) -> str:
    """A value as the TOML file spells it, so `true` is not shown as Python's `True`."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(raw)


def _check_limits(value: Any, key: str, limits: Mapping[str, Any]) -> None:
    low, above, high = limits.get("at_least"), limits.get("above"), limits.get("at_most")
    if isinstance(value, int | float):
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        if low is not None and high is not None and not low <= value <= high:
            raise _Invalid(key, f"must be between {low} and {high}, got {shown}")
        if low is not None and value < low:
            raise _Invalid(key, f"must be at least {low}, got {shown}")
        if above is not None and value <= above:
            raise _Invalid(key, f"must be greater than {above}, got {shown}")
    if not isinstance(value, str):
        return
    choices = limits.get("choices")
    if choices and value not in choices:
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _Invalid(key, f"must be one of {', '.join(choices)}, got {value!r}{hint}")
    pattern = limits.get("pattern")
    if pattern and not re.fullmatch(pattern[0], value):
        raise _Invalid(key, f"expected {pattern[1]}, got {value!r}")
    prefixes = limits.get("starts_with")
    if prefixes and not value.startswith(prefixes):
        raise _Invalid(key, f"must start with {' or '.join(prefixes)}, got {value!r}")
