"""The studio's naming convention: pure parsing of file names against templates.

A `NamingRule` is built once from the config. `NamingRule.parse(name)` never touches the
filesystem; it returns a `ParsedName` or a `Rejection` that tells the artist which field
was wrong, what was expected, and a name that would have passed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_NAME_BYTES = 255

# Values used to build an example name for rejections, when the config gives none.
_EXAMPLE_VALUES = {
    "show": "TST",
    "seq": "SQ010",
    "sequence": "SQ010",
    "shot": "SH0010",
    "task": "comp",
    "element": "bg",
    "version": "001",
}

_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Rejection:
    """Why a name failed, in words an artist can act on."""

    name: str
    field: str | None
    problem: str
    expected: str
    example: str

    def __str__(self) -> str:
        where = f"field '{self.field}'" if self.field else "name"
        return (
            f"{self.name!r}: {where}: {self.problem}; expected {self.expected}. "
            f"Example of a good name: {self.example}"
        )


@dataclass(frozen=True)
class ParsedName:
    """A name that follows the rule, split into its fields."""

    name: str
    fields: Mapping[str, str]
    identity: tuple[tuple[str, str], ...]
    asset: str

    @property
    def requested_number(self) -> int | None:
        """The version number written in the name, if the rule has a version field."""
        value = self.fields.get("version")
        return int(value) if value is not None else None


@dataclass(frozen=True)
class _Token:
    literal: str | None = None
    field: str | None = None


class NamingRule:
    """One naming convention: a template, a pattern per field, and the identity fields.

    The identity fields name the asset; every other field (version, ext, …) varies
    between files of the same asset.
    """

    def __init__(
        self,
        name: str,
        template: str,
        fields: Mapping[str, str | Sequence[str]],
        identity: Sequence[str],
        version_policy: str = "reject",
        example: str | None = None,
    ) -> None:
        self.name = name
        self.template = template
        self.version_policy = version_policy
        self._tokens = _tokenize(template)
        names = [t.field for t in self._tokens if t.field]
        if len(set(names)) != len(names):
            raise ValueError(f"template {template!r} uses a field twice")
        missing = [f for f in names if f not in fields]
        if missing:
            raise ValueError(f"template field(s) {', '.join(missing)} have no pattern")
        unknown_identity = [f for f in identity if f not in names]
        if unknown_identity:
            raise ValueError(f"identity field(s) {', '.join(unknown_identity)} not in template")
        if not identity:
            raise ValueError("identity must name at least one field")
        if version_policy not in ("reject", "renumber"):
            raise ValueError("version_policy must be 'reject' or 'renumber'")
        self.identity = tuple(identity)
        self._patterns: dict[str, str] = {}
        self._expected: dict[str, str] = {}
        self._choices: dict[str, tuple[str, ...]] = {}
        for field in names:
            spec = fields[field]
            if isinstance(spec, str):
                re.compile(spec)
                self._patterns[field] = spec
                self._expected[field] = f"pattern {spec}"
            else:
                choices = tuple(str(c) for c in spec)
                self._choices[field] = choices
                # Choice lists (extensions) accept any ASCII case: cameras write .MOV. Only
                # ASCII: Unicode folding would let `.t\N{LATIN SMALL LETTER DOTLESS I}f`
                # pass as `.tif`.
                self._patterns[field] = "(?ai:" + "|".join(re.escape(c) for c in choices) + ")"
                self._expected[field] = "one of " + ", ".join(choices)
        self._regex = re.compile(self._pattern_for(self._tokens) + r"\Z")
        self.example = example or self._default_example()
        if not isinstance(self.parse(self.example), ParsedName):
            raise ValueError(
                f"cannot build an example name that passes; add example = \"...\" "
                f"(tried {self.example!r})"
            )

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(t.field for t in self._tokens if t.field)

    @property
    def has_version(self) -> bool:
        return "version" in self.fields

    def parse(self, name: str) -> ParsedName | Rejection:
        """Split `name` into fields, or say precisely why it does not fit."""
        unsafe = _unsafe_reason(name)
        if unsafe:
            return Rejection(name, None, unsafe, "a plain file name", self.example)
        match = self._regex.match(name)
        if match:
            values = {k: v for k, v in match.groupdict().items() if v is not None}
            identity = tuple((f, values[f]) for f in self.identity)
            return ParsedName(name, values, identity, self.asset_name(values))
        return self._diagnose(name)

    def asset_name(self, values: Mapping[str, str]) -> str:
        """Identity fields joined with the template's own separators (`TST_SQ010_SH0010_comp`)."""
        parts: list[str] = []
        pending_literal = ""
        for token in self._tokens:
            if token.field in self.identity:
                if parts:
                    parts.append(pending_literal or "_")
                parts.append(values[token.field])
                pending_literal = ""
            elif token.literal is not None:
                pending_literal += token.literal
            else:
                pending_literal = ""
        return "".join(parts)

    def render(self, values: Mapping[str, str], number: int | None = None) -> str:
        """The file name for `values`, with the version field set to `number` if given."""
        filled = dict(values)
        if number is not None and self.has_version:
            width = len(values.get("version", "")) or 3
            filled["version"] = f"{number:0{max(width, 3)}d}"
        return "".join(t.literal if t.literal is not None else filled[t.field or ""]
                       for t in self._tokens)

    def _pattern_for(self, tokens: Sequence[_Token]) -> str:
        out = []
        for token in tokens:
            if token.literal is not None:
                out.append(re.escape(token.literal))
            else:
                out.append(f"(?P<{token.field}>{self._patterns[token.field or '']})")
        return "".join(out)

    def _diagnose(self, name: str) -> Rejection:
        """Find the first template token the name stops matching at, and explain it."""
        good: dict[str, str] = {}
        for i, token in enumerate(self._tokens):
            prefix = re.compile(self._pattern_for(self._tokens[: i + 1]))
            match = prefix.match(name)
            if match is None:
                consumed = 0
                if i:
                    before = re.compile(self._pattern_for(self._tokens[:i])).match(name)
                    consumed = before.end() if before else 0
                    good = {k: v for k, v in (before.groupdict() if before else {}).items() if v}
                rest = name[consumed:]
                example = self._example_from(good)
                if token.field is not None:
                    got = _segment(rest, self._tokens[i + 1 :])
                    problem = f"got {got!r}" if got else "missing"
                    return Rejection(name, token.field, problem, self._expected[token.field],
                                     example)
                field = _previous_field(self._tokens, i)
                got = rest[: max(len(token.literal or ""), 1)]
                problem = (f"is followed by {got!r}" if got else "ends the name too early")
                return Rejection(name, field, problem,
                                 f"{token.literal!r} after it", example)
        full = re.compile(self._pattern_for(self._tokens)).match(name)
        assert full is not None
        good = {k: v for k, v in full.groupdict().items() if v}
        last = _previous_field(self._tokens, len(self._tokens))
        return Rejection(name, last, f"unexpected text {name[full.end():]!r} after it",
                         "nothing after the last field", self._example_from(good))

    def _default_example(self) -> str:
        values = {}
        for field in self.fields:
            if field in self._choices:
                values[field] = self._choices[field][0]
            else:
                values[field] = _EXAMPLE_VALUES.get(field, field)
        return self.render(values)

    def _example_from(self, good: Mapping[str, str]) -> str:
        """The default example with the fields the artist got right kept as they wrote them."""
        base = self.parse(self.example)
        assert isinstance(base, ParsedName)
        candidate = self.render({**base.fields, **good})
        if isinstance(self.parse(candidate), ParsedName):
            return candidate
        return self.example


def _tokenize(template: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    for match in _FIELD.finditer(template):
        if match.start() > pos:
            tokens.append(_Token(literal=template[pos : match.start()]))
        tokens.append(_Token(field=match.group(1)))
        pos = match.end()
    if pos < len(template):
        tokens.append(_Token(literal=template[pos:]))
    leftover = "".join(t.literal or "" for t in tokens)
    if "{" in leftover or "}" in leftover:
        raise ValueError(f"template {template!r} has a malformed field")
    if not any(t.field for t in tokens):
        raise ValueError(f"template {template!r} has no fields")
    return tokens


def _segment(rest: str, following: Sequence[_Token]) -> str:
    """The part of `rest` the artist meant for this field: up to the next separator."""
    for token in following:
        if token.literal:
            cut = rest.find(token.literal)
            return rest if cut < 0 else rest[:cut]
    return rest


def _previous_field(tokens: Sequence[_Token], index: int) -> str | None:
    for token in reversed(tokens[:index]):
        if token.field:
            return token.field
    return None


# Unicode's control characters (category Cc) are exactly these: C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _unsafe_reason(name: str) -> str | None:
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name in (".", "..") or ".." in name:
        return "contains '..'"
    if _CONTROL.search(name):
        return "contains a control character (newline, tab, …)"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None
