"""The units the monitor measures, as SQL: one row per trace (or per claim, vote, ...) in a window.

A *trace unit* is a root span (no parent, not an llmmon eval) that started in ``[start, end)``
with what its whole trace carries: the root's latency, status, session and timestamps; the
time to first token of its first LLM call; tokens of its LLM spans and cost of all its spans;
and the model, prompt, tags and metadata stamped on *any* of its spans (a prompt version is
stamped on the function span, the model on its LLM child).

Filters and the grouping key are resolved here so every metric accepts the same ones:

* filter keys: ``model``, ``prompt_name``, ``prompt_version``, ``tag``, ``user_id``,
  ``metadata.<key>`` -- a trace matches when any of its spans carries the value;
* group keys: ``model``, ``prompt_name``, ``prompt_version`` (labels ``prompt_name`` and
  ``prompt_version``), ``user_id``, ``day``, ``hour``, ``metadata:<key>`` (or ``metadata.<key>``).
  Grouping by ``tag`` is done by the caller (a trace may carry several tags): one query per
  tag seen in the window, see ``tags_in_window``.

Everything is plain SQL that runs the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Engine, Text, and_, case, cast, func, literal, literal_column, null, or_, select
from sqlalchemy.sql import ColumnElement, Subquery

from llmmon.errors import ConfigError
from llmmon.monitor.windows import to_utc
from llmmon.storage.models import Span

__all__ = [
    "FILTER_KEYS",
    "GROUP_KEYS",
    "NO_VALUE",
    "PROMPT_SEPARATOR",
    "Scope",
    "group_keys",
    "key_columns",
    "labels_of",
    "metadata_value",
    "parse_group_by",
    "seconds_between",
    "tags_in_window",
    "trace_units",
]

FILTER_KEYS: tuple[str, ...] = ("model", "prompt_name", "prompt_version", "tag", "user_id", "metadata.<key>")
GROUP_KEYS: tuple[str, ...] = (
    "model",
    "prompt_name",
    "prompt_version",
    "user_id",
    "tag",
    "day",
    "hour",
    "metadata:<key>",
)
NO_VALUE = "(none)"  # label value of traces without the grouped attribute
PROMPT_SEPARATOR = "\x1f"
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_SPAN: Any = Span.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Scope:
    """Which traces a metric looks at: a window, filters, and the keys to group them by."""

    start: datetime
    end: datetime
    filters: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start))
        object.__setattr__(self, "end", to_utc(self.end))
        if self.end <= self.start:
            raise ConfigError(f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}")
        for key in self.filters:
            _check_filter_key(key)
        for key in self.group_by:
            parse_group_by(key)
        if len(set(self.group_by)) != len(self.group_by):
            raise ConfigError(f"group keys repeat: {', '.join(self.group_by)}")


def group_keys(group_by: str | Sequence[str] | None) -> tuple[str, ...]:
    """``None``, one key, or several keys as a tuple of keys."""
    if group_by is None:
        return ()
    if isinstance(group_by, str):
        return (group_by,)
    return tuple(group_by)


def _check_filter_key(key: str) -> None:
    if key in ("model", "prompt_name", "prompt_version", "tag", "user_id"):
        return
    if key.startswith("metadata.") and _METADATA_KEY.match(key[len("metadata.") :]):
        return
    raise ConfigError(f"unknown filter {key!r}; use one of {', '.join(FILTER_KEYS)}")


def parse_group_by(group_by: str) -> tuple[str, str | None]:
    """``("metadata", key)`` for metadata keys, else ``(group_by, None)``; ConfigError for unknown keys."""
    for prefix in ("metadata:", "metadata."):
        if group_by.startswith(prefix):
            key = group_by[len(prefix) :]
            if not _METADATA_KEY.match(key):
                raise ConfigError(f"metadata key {key!r} may only use letters, digits, '_' and '-'")
            return "metadata", key
    if group_by in ("model", "prompt_name", "prompt_version", "user_id", "tag", "day", "hour"):
        return group_by, None
    raise ConfigError(f"cannot group by {group_by!r}; use one of {', '.join(GROUP_KEYS)}")


def labels_of(group_by: Sequence[str], keys: Sequence[Any]) -> dict[str, str]:
    """The label dict of one group (the values of its ``key_<i>`` columns from ``trace_units``)."""
    labels: dict[str, str] = {}
    for name, key in zip(group_by, keys, strict=True):
        kind, meta = parse_group_by(name)
        if kind == "prompt_version":
            if key is None:
                labels.update(prompt_name=NO_VALUE, prompt_version=NO_VALUE)
            else:
                prompt_name, _, version = str(key).partition(PROMPT_SEPARATOR)
                labels.update(prompt_name=prompt_name, prompt_version=version)
            continue
        label = f"metadata.{meta}" if kind == "metadata" else kind
        labels[label] = NO_VALUE if key is None or key == "" else str(key)
    return labels


def metadata_value(engine: Engine, column: Any, key: str) -> ColumnElement[Any]:
    """The text value of ``key`` in a JSON-object text column (NULL when absent or not a JSON object)."""
    if not _METADATA_KEY.match(key):
        raise ConfigError(f"metadata key {key!r} may only use letters, digits, '_' and '-'")
    looks_like_object = column.like("{%}")  # a truncated payload is not valid JSON: skip it
    if engine.dialect.name == "sqlite":
        value: ColumnElement[Any] = cast(func.json_extract(column, f'$."{key}"'), Text)
        return case((and_(looks_like_object, func.json_valid(column) == 1), value), else_=null())
    return case((looks_like_object, func.json_extract_path_text(cast(column, JSON), key)), else_=null())


def seconds_between(engine: Engine, earlier: Any, later: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, on both databases."""
    if engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _bucket(engine: Engine, column: Any, size: str) -> ColumnElement[Any]:
    if engine.dialect.name == "sqlite":
        return func.substr(column, 1, 10 if size == "day" else 13)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD" if size == "day" else "YYYY-MM-DD HH24")


def _tag_condition(column: Any, tag: str) -> ColumnElement[bool]:
    """Whether a JSON list-of-strings text column contains ``tag``."""
    patterns = {json.dumps(tag, ensure_ascii=False), json.dumps(tag)}
    escaped = [p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in patterns]
    return or_(*(column.like(f"%{p}%", escape="\\") for p in escaped))


def _filter_condition(engine: Engine, member: Any, key: str, value: str) -> ColumnElement[bool]:
    c = member.c
    if key == "tag":
        return _tag_condition(c.tags, value)
    if key.startswith("metadata."):
        return metadata_value(engine, c.attributes, key[len("metadata.") :]) == value
    column = {"model": c.model, "prompt_name": c.prompt_name, "prompt_version": c.prompt_version}[key]
    return column == value  # type: ignore[no-any-return]


def trace_units(
    engine: Engine,
    scope: Scope,
    *,
    end: datetime | None = None,
    members: bool = True,
    extra_filters: Mapping[str, str] | None = None,
    within: Any | None = None,
) -> Subquery:
    """One row per trace unit in the scope's window (or up to ``end`` when given).

    Columns: ``trace_id``, ``key_0 .. key_<n-1>`` (one per group key), ``start_time, end_time,
    latency_ms, status, session_id, user_id, ttft_ms, total_tokens, cost_usd``. ``members=False``
    skips the per-trace aggregation over child spans when the metric needs only root columns
    and no filter or key needs them (then ``ttft_ms``, ``total_tokens`` and ``cost_usd`` come from the root span alone).
    ``within`` (a SELECT of trace ids, e.g. the checked or voted traces) keeps only those traces:
    a quality metric then looks up the few checked traces by their indexed trace id instead of
    aggregating the spans of every trace in the window.
    """
    root = _SPAN.alias("root")
    window_end = to_utc(end) if end is not None else scope.end

    def conditions(column: Callable[[str], Any]) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [
            column("parent_span_id").is_(None),
            root.c.is_eval.is_(False),
            column("start_time") >= scope.start,
            column("start_time") < window_end,
        ]
        if user_id is not None:
            found.append(column("user_id") == user_id)
        return found

    filters = dict(scope.filters)
    filters.update(extra_filters or {})
    user_id = filters.pop("user_id", None)
    root_conditions = conditions(lambda name: root.c[name])
    if within is not None:
        root_conditions.append(root.c.trace_id.in_(within))
    kinds = [parse_group_by(name) for name in scope.group_by]
    if any(kind == "tag" for kind, _ in kinds):
        raise ConfigError("grouping by tag runs one query per tag (see tags_in_window); pass the tag as a filter")
    root_keys: dict[int, ColumnElement[Any]] = {}
    member_kinds: dict[int, tuple[str, str | None]] = {}
    for index, (kind, meta) in enumerate(kinds):
        if kind == "user_id":
            root_keys[index] = root.c.user_id
        elif kind in ("day", "hour"):
            root_keys[index] = _bucket(engine, root.c.start_time, kind)
        else:
            member_kinds[index] = (kind, meta)
    needs_members = members or bool(filters) or bool(member_kinds)
    if not needs_members:
        return (
            select(
                root.c.trace_id,
                *(root_keys[index].label(f"key_{index}") for index in range(len(kinds))),
                root.c.start_time,
                root.c.end_time,
                root.c.latency_ms,
                root.c.status,
                root.c.session_id,
                root.c.user_id,
                root.c.ttft_ms,
                root.c.total_tokens,
                root.c.cost_usd,
            )
            .where(*root_conditions)
            .subquery("units")
        )
    member = _SPAN.alias("member")
    llm = member.c.kind == "llm"
    has_tokens = or_(
        member.c.total_tokens.is_not(None), member.c.input_tokens.is_not(None), member.c.output_tokens.is_not(None)
    )
    tokens = func.coalesce(
        member.c.total_tokens, func.coalesce(member.c.input_tokens, 0) + func.coalesce(member.c.output_tokens, 0)
    )
    columns: list[Any] = [
        member.c.trace_id.label("trace_id"),
        func.min(case((llm, member.c.ttft_ms))).label("ttft_ms"),
        func.sum(case((and_(llm, has_tokens), tokens))).label("total_tokens"),
        func.sum(member.c.cost_usd).label("cost_usd"),
    ]
    for index, (name, value) in enumerate(sorted(filters.items())):
        hit = case((_filter_condition(engine, member, name, value), 1), else_=0)
        columns.append(func.max(hit).label(f"match_{index}"))
    for index, (kind, meta) in member_kinds.items():
        if kind == "model":
            expression: ColumnElement[Any] = member.c.model
        elif kind == "prompt_name":
            expression = member.c.prompt_name
        elif kind == "prompt_version":
            expression = case(
                (
                    member.c.prompt_version.is_not(None),
                    func.coalesce(member.c.prompt_name, "") + literal(PROMPT_SEPARATOR) + member.c.prompt_version,
                )
            )
        else:
            assert meta is not None
            expression = metadata_value(engine, member.c.attributes, meta)
        columns.append(func.max(expression).label(f"key_{index}"))
    # With ``within`` the members are looked up straight from those trace ids (the join to the
    # root below applies the window): one root lookup per candidate instead of two.
    in_window = within if within is not None else select(root.c.trace_id).where(*root_conditions)
    totals = (
        select(*columns)
        .where(member.c.trace_id.in_(in_window), member.c.is_eval.is_(False))
        .group_by(member.c.trace_id)
        .subquery("totals")
    )
    keys = [
        (totals.c[f"key_{index}"] if index in member_kinds else root_keys[index]).label(f"key_{index}")
        for index in range(len(kinds))
    ]
    matches = [totals.c[f"match_{index}"] == 1 for index in range(len(filters))]
    return (
        select(
            root.c.trace_id,
            *keys,
            root.c.start_time,
            root.c.end_time,
            root.c.latency_ms,
            root.c.status,
            root.c.session_id,
            root.c.user_id,
            func.coalesce(root.c.ttft_ms, totals.c.ttft_ms).label("ttft_ms"),
            totals.c.total_tokens,
            totals.c.cost_usd,
        )
        .join(totals, totals.c.trace_id == root.c.trace_id)
        .where(*conditions(lambda name: _lookup_only(engine, root, name)), *matches)
        .subquery("units")
    )


def _lookup_only(engine: Engine, table: Any, name: str) -> Any:
    """A column SQLite may not use an index for (unary ``+``, a no-op on any value).

    The root of each aggregated trace is joined by its indexed trace id; without statistics
    (no ANALYZE) SQLite would otherwise pick the (parent_span_id, start_time) index for that
    join and range-scan the window's roots once per trace.
    """
    column = table.c[name]
    if engine.dialect.name != "sqlite":
        return column
    return literal_column(f"+{table.name}.{name}", type_=column.type)


def tags_in_window(engine: Engine, scope: Scope) -> list[str]:
    """Every tag stamped on a non-eval span that started in the scope's window (sorted)."""
    query = (
        select(_SPAN.c.tags)
        .where(
            _SPAN.c.tags.is_not(None),
            _SPAN.c.is_eval.is_(False),
            _SPAN.c.start_time >= scope.start,
            _SPAN.c.start_time < scope.end,
        )
        .distinct()
    )
    found: set[str] = set()
    with engine.connect() as connection:
        for (text,) in connection.execute(query):
            try:
                values = json.loads(text)
            except ValueError:
                continue
            if isinstance(values, list):
                found.update(str(value) for value in values)
    return sorted(found)


def key_columns(units: Any) -> list[Any]:
    """The ``key_<i>`` columns of a unit subquery, in order."""
    return [column for column in units.c if column.name.startswith("key_")]
