"""Schema checks for the matching data files (catalogue.yaml, rules.yaml).

A wrong value in a YAML file must stop the load with a message an officer or an operator can act
on: the file, the path to the field and what was expected, e.g.
``catalogue.yaml: categories[2].price_band.low: expected a number, got 'cheap'``.
``Node`` carries that path along while the loaders walk the document.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import yaml


class DataFileError(ValueError):
    """A matching data file is missing, unreadable or does not follow its schema."""

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}: {where}: {problem}" if where else f"{file}: {problem}")


class CatalogueError(DataFileError):
    """catalogue.yaml is broken."""


class RulesError(DataFileError):
    """rules.yaml is broken."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class Node:
    """One value of a YAML document and where it sits, for error messages."""

    value: Any
    file: str
    path: str
    error: type[DataFileError]
    context: str = ""  # e.g. "category 'charger'", appended to errors below that point

    def fail(self, problem: str) -> NoReturn:
        suffix = f" ({self.context})" if self.context else ""
        raise self.error(self.file, self.path, problem + suffix)

    def child(self, key: str | int, context: str | None = None) -> Node:
        path = (
            f"{self.path}[{key}]"
            if isinstance(key, int)
            else (f"{self.path}.{key}" if self.path else key)
        )
        value = self.value[key]
        return Node(
            value, self.file, path, self.error, self.context if context is None else context
        )

    def fields(self, required: Iterable[str] = (), optional: Iterable[str] = ()) -> dict[str, Node]:
        """The mapping's fields as Nodes; unknown or missing fields are errors (typos show up)."""
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {_describe(self.value)}")
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                self.fail(f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in self.value:
                where = f"{self.path}.{key}" if self.path else key
                suffix = f" ({self.context})" if self.context else ""
                raise self.error(self.file, where, "missing required field" + suffix)
        return {key: self.child(key) for key in self.value}

    def items(self, *, non_empty: bool = False) -> list[Node]:
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {_describe(self.value)}")
        if non_empty and not self.value:
            self.fail("expected a non-empty list")
        return [self.child(i) for i in range(len(self.value))]

    def text(self, *, allow_empty: bool = False) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected a string, got {_describe(self.value)}")
        if not allow_empty and not self.value.strip():
            self.fail("expected a non-empty string")
        return self.value

    def texts(self, *, non_empty: bool = False) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items(non_empty=non_empty))

    def number(self, *, minimum: Decimal | None = None) -> Decimal:
        # bool is an int in Python; `low: yes` must not read as 1.
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self.fail(f"expected a number, got {_describe(self.value)}")
        try:
            result = Decimal(str(self.value))
        except InvalidOperation:
            self.fail(f"expected a number, got {_describe(self.value)}")
        if not result.is_finite():
            self.fail(f"expected a finite number, got {_describe(self.value)}")
        if minimum is not None and result < minimum:
            self.fail(f"expected a number >= {minimum}, got {_describe(self.value)}")
        return result

    def integer(self, *, minimum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected a whole number, got {_describe(self.value)}")
        if minimum is not None and self.value < minimum:
            self.fail(f"expected a whole number >= {minimum}, got {self.value}")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_describe(self.value)}")
        return self.value

    def day(self) -> date | None:
        """A date written as 2002-05-01 (YAML may already have parsed it), or null."""
        if self.value is None:
            return None
        if isinstance(self.value, date):
            return self.value
        if isinstance(self.value, str):
            try:
                return date.fromisoformat(self.value.strip())
            except ValueError:
                pass
        self.fail(f"expected a date like 2002-05-01, got {_describe(self.value)}")

    def choice(self, options: Iterable[str]) -> str:
        options = tuple(options)
        value = self.text()
        if value not in options:
            self.fail(f"expected one of {', '.join(options)}, got {_describe(value)}")
        return value

    def template(self, placeholders: Iterable[str]) -> str:
        """A str.format template; unknown {placeholders} are caught here, not at match time."""
        value = self.text()
        allowed = set(placeholders)
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            self.fail(f"bad template ({exc}); write literal braces as {{{{ and }}}}")
        for name in names:
            if name not in allowed:
                known = ", ".join("{" + p + "}" for p in sorted(allowed)) or "none"
                self.fail(f"unknown placeholder {{{name}}} (known: {known})")
        return value


def load_yaml(path: Path, error: type[DataFileError]) -> Node:
    """Read and parse a YAML file; every failure becomes ``error`` naming the file."""
    name = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(name, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(name, "", f"cannot read file: {exc}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(name, where, f"not valid YAML: {problem}") from None
    if data is None:
        raise error(name, "", "file is empty")
    return Node(data, name, "", error)
