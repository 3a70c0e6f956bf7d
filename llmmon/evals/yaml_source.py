"""YAML files with line numbers: parse a document and remember where every key and item starts.

pydantic reports errors by *location* (``("cases", 3, "assertions", 0, "type")``); users want
``evalsuites/bot.yaml:42``. We compose the YAML node tree (which keeps marks), build plain Python
data from it, and keep a map from data paths to 1-based line numbers so validation errors can be
turned into ``file:line: field: message``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmmon.errors import EvalSuiteError

__all__ = ["YamlSource", "format_validation_error", "parse_yaml_source"]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlSource:
    """Parsed YAML data plus the line of every mapping key and sequence item (1-based)."""

    path: Path
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc``, or of its longest existing prefix (a missing field points at its parent)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def parse_yaml_source(path: Path) -> YamlSource:
    """Read ``path`` and return its data with line marks; syntax errors become ``EvalSuiteError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalSuiteError(f"{path}: cannot read suite file: {exc.strerror or exc}", path=path) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
        raise EvalSuiteError(f"{where}: invalid YAML: {exc.problem or exc}", path=path) from exc
    except yaml.YAMLError as exc:
        raise EvalSuiteError(f"{path}: invalid YAML: {exc}", path=path) from exc
    if node is None:
        return YamlSource(path=path, data=None, lines={(): 1})
    lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
    _collect_lines(node, (), lines, path)
    # Build the data with the same loader so tags and scalars resolve exactly as yaml.safe_load would.
    loader = yaml.SafeLoader(text)
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise EvalSuiteError(f"{path}: invalid YAML: {exc}", path=path) from exc
    finally:
        loader.dispose()
    return YamlSource(path=path, data=data, lines=lines)


def _collect_lines(node: yaml.Node, prefix: PathKey, lines: dict[PathKey, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                # safe_load silently keeps the last one; a silently dropped case setting is a bug magnet.
                raise EvalSuiteError(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted((*prefix, key))}: "
                    f"duplicate key {key!r}",
                    path=path,
                )
            seen.add(key)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*prefix, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            _collect_lines(item, (*prefix, index), lines, path)


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _data_path(data: Any, loc: Sequence[str | int]) -> PathKey:
    """Keep only the parts of a pydantic location that exist in the data.

    Discriminated unions and ``str | list`` unions add segments such as ``"contains"`` or
    ``"list[str]"`` that are not keys of the document; they would confuse both the line
    lookup and the field name shown to the user.
    """
    kept: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            kept.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and index == len(loc) - 1:
            kept.append(part)  # a missing or extra field: name it even though it is absent
        # anything else is a union/model label added by pydantic: skip it
    return tuple(kept)


def format_validation_error(
    error: ValidationError, source: YamlSource, *, known_fields: Sequence[str] = ()
) -> str:
    """One line per problem: ``file:line: field: message`` (with a "did you mean" hint for typos).

    ``known_fields`` are the valid field names, used to suggest a fix for a misspelt key.
    """
    messages: list[str] = []
    for item in error.errors(include_url=False):
        loc = item.get("loc", ())
        kept = _data_path(source.data, loc)
        line = source.line_of(kept)
        where = f"{source.path}:{line}" if line is not None else str(source.path)
        message = str(item.get("msg", "invalid value"))
        hint = _hint(item, kept, known_fields)
        error_type = item.get("type")
        if error_type == "union_tag_invalid":
            ctx = item.get("ctx") or {}
            field_name = _dotted((*kept, str(ctx.get("discriminator", "type")).strip("'")))
            line = source.line_of((*kept, "type"))
            where = f"{source.path}:{line}" if line is not None else where
            message = f"unknown type {ctx.get('tag')!r}; valid types: {ctx.get('expected_tags')}"
        else:
            field_name = _dotted(kept)
        messages.append(f"{where}: {field_name}: {message}{hint}")
    return "\n".join(messages)


def _hint(item: Any, kept: PathKey, known_fields: Sequence[str]) -> str:
    error_type = item.get("type")
    if error_type == "union_tag_invalid":
        ctx = item.get("ctx") or {}
        tag = str(ctx.get("tag", ""))
        expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        return _did_you_mean(tag, expected)
    if error_type == "extra_forbidden" and kept:
        return _did_you_mean(str(kept[-1]), known_fields)
    return ""


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
