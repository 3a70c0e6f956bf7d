"""The alert monitor: evaluate rules over metric windows, keep one alert per rule and label set,
notify webhooks when an alert fires or resolves.

One evaluation (``AlertMonitor.evaluate(now=...)``) does, per rule:

1. compute the metric over ``[now - window, now)`` (and the reference window for
   ``change_vs_baseline``) grouped by the rule's ``group_by``, in SQL, via a ``MetricSource``;
2. decide per label set: *breached*, *clear*, or *unknown* (volume below ``min_volume``, no
   value, no baseline). Unknown never fires and never resolves, so a quiet night is not an
   incident and does not hide one either;
3. breached without an open alert opens one (or, within ``cooldown`` of the last resolution,
   silently re-opens it: a flapping metric pages once); clear with an open alert resolves it.

Alert rows are committed before any webhook is called, so a slow or dead webhook never loses
state; delivery outcomes are appended to the row afterwards. ``now`` is an argument so tests
and replays can run the monitor at simulated times; by default it is the database's clock.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from llmmon.errors import ConfigError
from llmmon.monitor.notify import Delivery, WebhookNotifier, slack_payload
from llmmon.monitor.rules import AlertRule, RuleSet
from llmmon.monitor.windows import database_now, to_utc
from llmmon.storage.models.monitor_alerts import Alert

__all__ = [
    "DRIFT_PREFIX",
    "AlertMonitor",
    "AlertPublic",
    "Evaluation",
    "MetricPoint",
    "MetricSource",
    "MonitorResult",
    "RegistryMetrics",
    "ack_alert",
    "label_hash",
    "list_alerts",
]


class MetricPoint(Protocol):
    """What a metric source returns per label set (``llmmon.monitor.metrics.MetricValue``)."""

    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float | None: ...
    @property
    def volume(self) -> int: ...


class MetricSource(Protocol):
    """The seam between alerts and metrics: which names exist and how to compute one."""

    def known_metrics(self) -> Collection[str]: ...

    def compute(
        self,
        engine: Engine,
        name: str,
        *,
        start: datetime,
        end: datetime,
        filters: Mapping[str, str] | None,
        group_by: str | None,
    ) -> Sequence[MetricPoint]: ...


DRIFT_PREFIX = "drift_psi:"
DRIFT_REFERENCE_WINDOWS = 7


class RegistryMetrics:
    """The metrics of ``llmmon.monitor.metrics``, plus ``drift_psi:<feature>`` from ``drift.py``.

    ``drift_psi:<feature>`` is the PSI of one drift feature between the rule's window and the
    ``DRIFT_REFERENCE_WINDOWS`` windows of the same length just before it (for a 1-day window:
    the previous week); its volume is the number of traces in the current window. Both modules
    are imported on first use.
    """

    def combines(self, name: str) -> str | None:
        """``count`` / ``sum`` / ``mean`` when the groups of a metric add up to its ungrouped value."""
        from llmmon.monitor.metrics import METRICS

        spec = METRICS.get(name)
        if spec is None or spec.aggregate not in ("count", "sum", "mean"):
            return None
        return spec.aggregate

    def known_metrics(self) -> Collection[str]:
        from llmmon.monitor.drift import FEATURES
        from llmmon.monitor.metrics import METRICS

        return (*METRICS, *(f"{DRIFT_PREFIX}{feature}" for feature in FEATURES))

    def compute(
        self,
        engine: Engine,
        name: str,
        *,
        start: datetime,
        end: datetime,
        filters: Mapping[str, str] | None,
        group_by: str | None,
    ) -> Sequence[MetricPoint]:
        if name.startswith(DRIFT_PREFIX):
            return [self._drift(engine, name.removeprefix(DRIFT_PREFIX), start, end, filters, group_by)]
        from llmmon.monitor.metrics import compute_metric

        result: Sequence[MetricPoint] = compute_metric(
            engine, name, start=start, end=end, filters=dict(filters) if filters else None, group_by=group_by
        )
        return result

    @staticmethod
    def _drift(
        engine: Engine,
        feature: str,
        start: datetime,
        end: datetime,
        filters: Mapping[str, str] | None,
        group_by: str | None,
    ) -> MetricPoint:
        from llmmon.monitor.drift import compute_drift
        from llmmon.monitor.windows import Window

        if group_by is not None:
            raise ConfigError(f"drift metrics are not grouped; remove group_by ({group_by!r}) or use a filter")
        reference = Window(start=start - DRIFT_REFERENCE_WINDOWS * (end - start), end=start)
        report = compute_drift(
            engine, current=Window(start=start, end=end), reference=reference, features=[feature], filters=filters
        )
        item = report.feature(feature)
        return _Point({"feature": feature}, item.psi, item.current_n)


@dataclass(frozen=True)
class _Point:
    labels: Mapping[str, str]
    value: float | None
    volume: int


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one rule on one label set at one evaluation."""

    rule_id: str
    labels: dict[str, str]
    value: float | None
    volume: int
    baseline_value: float | None
    breached: bool | None  # None: unknown (too little traffic, no value, no baseline)
    reason: str = ""


@dataclass
class MonitorResult:
    """What one evaluation found and did."""

    now: datetime
    evaluations: list[Evaluation] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


class AlertPublic(BaseModel):
    """An alert as ``llmmon alerts list`` and the dashboard show it."""

    id: int
    rule_id: str
    labels: dict[str, str]
    metric: str
    severity: str
    state: str
    opened_at: datetime
    resolved_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    last_evaluated_at: datetime
    last_value: float | None
    threshold: float | None
    volume: int
    message: str
    muted: bool
    notifications: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: Alert) -> AlertPublic:
        assert row.id is not None
        return cls(
            id=row.id,
            rule_id=row.rule_id,
            labels=json.loads(row.labels),
            metric=row.metric,
            severity=row.severity,
            state=row.state,
            opened_at=to_utc(row.opened_at),
            resolved_at=to_utc(row.resolved_at) if row.resolved_at else None,
            acked_at=to_utc(row.acked_at) if row.acked_at else None,
            acked_by=row.acked_by,
            last_evaluated_at=to_utc(row.last_evaluated_at),
            last_value=row.last_value,
            threshold=row.threshold,
            volume=row.volume,
            message=row.message,
            muted=row.muted,
            notifications=json.loads(row.notifications),
        )


def label_hash(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (sha256 of its canonical JSON)."""
    return hashlib.sha256(json.dumps(dict(labels), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _labels_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "all traffic"


_CacheKey = tuple[str, tuple[tuple[str, str], ...], str | None, datetime, datetime]


class AlertMonitor:
    """Evaluates a rule set against a database and manages the alert rows.

    Usage::

        monitor = AlertMonitor(engine, load_rules(path, known_metrics=RegistryMetrics().known_metrics()))
        result = monitor.evaluate()            # or evaluate(now=...) for a replay
    """

    def __init__(
        self,
        engine: Engine,
        rules: RuleSet,
        *,
        metrics: MetricSource | None = None,
        notifier: WebhookNotifier | None = None,
        default_webhook: str | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.metrics: MetricSource = metrics or RegistryMetrics()
        self.notifier = notifier
        self.default_webhook = default_webhook
        known = set(self.metrics.known_metrics())
        for rule in rules.rules:
            if rule.metric not in known:
                raise ConfigError(
                    f"{rules.source}: rule {rule.id!r}: unknown metric {rule.metric!r}; "
                    f"known metrics: {', '.join(sorted(known))}"
                )

    # -- evaluation -------------------------------------------------------------------

    def _points(
        self, rule: AlertRule, *, start: datetime, end: datetime, cache: dict[_CacheKey, list[_Point]]
    ) -> list[_Point]:
        key: _CacheKey = (rule.metric, tuple(sorted(rule.filter.items())), rule.group_by, start, end)
        if key not in cache and rule.group_by is None:
            grouped = self._grouped_sibling(rule, end - start)
            if grouped is not None:
                # Rules sharing (metric, filter, window) are batched: the ungrouped value of an
                # additive metric is the volume-weighted sum of the groups a sibling rule reads.
                parts = self._points(grouped, start=start, end=end, cache=cache)
                cache[key] = [_combined(rule.metric, parts, self._additive(rule.metric))]
        if key not in cache:
            raw = self.metrics.compute(
                self.engine,
                rule.metric,
                start=start,
                end=end,
                filters=rule.filter or None,
                group_by=rule.group_by,
            )
            points = [_Point(dict(p.labels), _value(rule.metric, p), int(p.volume)) for p in raw]
            if not points and not rule.group_by:
                # No traffic at all: one empty point, so `volume < 1` rules (min_volume: 0) can fire.
                points = [_Point({}, 0.0 if rule.metric == "volume" else None, 0)]
            cache[key] = points
        return cache[key]

    def _additive(self, metric: str) -> str | None:
        """How groups of ``metric`` combine (``count``, ``sum`` or ``mean``); None when they do not."""
        how = getattr(self.metrics, "combines", None)
        return how(metric) if callable(how) else None

    def _grouped_sibling(self, rule: AlertRule, length: timedelta) -> AlertRule | None:
        """A grouped rule over the same metric, filter and window whose groups add up to ``rule``."""
        if self._additive(rule.metric) is None:
            return None
        for other in self.rules.rules:
            if (
                other.group_by is not None
                and other.metric == rule.metric
                and other.filter == rule.filter
                and other.window_length == length
            ):
                return other
        return None

    def evaluate_rule(
        self, rule: AlertRule, *, now: datetime, cache: dict[_CacheKey, list[_Point]] | None = None
    ) -> list[Evaluation]:
        """Decide breached / clear / unknown for every label set the rule's window holds."""
        cache = {} if cache is None else cache
        length = rule.window_length
        current = self._points(rule, start=now - length, end=now, cache=cache)
        reference: dict[str, _Point] = {}
        baseline = rule.baseline
        if baseline is not None:
            ref_end = now - baseline.offset(length)
            for point in self._points(rule, start=ref_end - length, end=ref_end, cache=cache):
                reference[label_hash(point.labels)] = point
        evaluations = []
        for point in current:
            labels = dict(point.labels)
            base_point = reference.get(label_hash(labels)) if baseline is not None else None
            base_value = base_point.value if base_point is not None else None

            reason = ""
            compared = point.value
            if point.volume < rule.min_volume:
                reason = f"volume {point.volume} < min_volume {rule.min_volume}"
            elif point.value is None:
                reason = "no value in the window"
            elif baseline is not None:
                if base_point is None or base_point.volume < rule.min_volume or base_value is None:
                    reason = "no baseline window with enough traffic"
                else:
                    compared = _relative_change(point.value, base_value)
            breached = None if reason or compared is None else rule.is_breached(compared)
            evaluations.append(Evaluation(rule.id, labels, point.value, point.volume, base_value, breached, reason))
        return evaluations

    def evaluate(self, *, now: datetime | None = None) -> MonitorResult:
        """Evaluate every rule at ``now`` (default: the database clock), update alerts, notify."""
        moment = to_utc(now) if now is not None else database_now(self.engine)
        result = MonitorResult(now=moment)
        cache: dict[_CacheKey, list[_Point]] = {}
        outbox: list[tuple[int, str, AlertRule, str, list[str]]] = []
        with Session(self.engine, expire_on_commit=False) as session:
            for rule in self.rules.rules:
                evaluations = self.evaluate_rule(rule, now=moment, cache=cache)
                result.evaluations.extend(evaluations)
                self._apply(session, rule, evaluations, moment, result, outbox)
            session.commit()
        self._deliver(outbox, result)
        return result

    def _apply(
        self,
        session: Session,
        rule: AlertRule,
        evaluations: list[Evaluation],
        now: datetime,
        result: MonitorResult,
        outbox: list[tuple[int, str, AlertRule, str, list[str]]],
    ) -> None:
        active = {
            row.label_hash: row
            for row in session.exec(
                select(Alert).where(Alert.rule_id == rule.id, col(Alert.state).in_(("open", "acked")))
            )
        }
        for evaluation in evaluations:
            key = label_hash(evaluation.labels)
            row = active.get(key)
            if evaluation.breached is None:
                if row is not None:
                    row.last_evaluated_at = now
                continue
            if evaluation.breached:
                if row is None:
                    row = self._open(session, rule, evaluation, key, now, result)
                    session.flush()
                    assert row.id is not None
                    if not row.muted:
                        outbox.append((row.id, "firing", rule, row.message, []))
                self._observe(row, rule, evaluation, now)
            elif row is not None:
                self._observe(row, rule, evaluation, now)
                row.state = "resolved"
                row.resolved_at = now
                assert row.id is not None
                result.resolved.append(row.id)
                if not row.muted:
                    outbox.append((row.id, "resolved", rule, _message(rule, evaluation, resolved=True), []))

    def _open(
        self, session: Session, rule: AlertRule, evaluation: Evaluation, key: str, now: datetime, result: MonitorResult
    ) -> Alert:
        cooldown = rule.cooldown_length
        if cooldown > timedelta(0):
            recent = session.exec(
                select(Alert)
                .where(Alert.rule_id == rule.id, Alert.label_hash == key, Alert.state == "resolved")
                .order_by(col(Alert.resolved_at).desc())
                .limit(1)
            ).first()
            if recent is not None and recent.resolved_at is not None and now - to_utc(recent.resolved_at) < cooldown:
                recent.state = "open"
                recent.resolved_at = None
                recent.muted = True
                session.add(recent)
                session.flush()
                assert recent.id is not None
                result.reopened.append(recent.id)
                return recent
        row = Alert(
            rule_id=rule.id,
            label_hash=key,
            labels=json.dumps(evaluation.labels, sort_keys=True, ensure_ascii=False),
            metric=rule.metric,
            severity=rule.severity,
            state="open",
            opened_at=now,
            last_evaluated_at=now,
            threshold=rule.limit,
            message=_message(rule, evaluation, resolved=False),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        result.opened.append(row.id)
        return row

    @staticmethod
    def _observe(row: Alert, rule: AlertRule, evaluation: Evaluation, now: datetime) -> None:
        row.last_evaluated_at = now
        row.last_value = evaluation.value
        row.volume = evaluation.volume
        if row.state != "resolved" and evaluation.breached:
            row.message = _message(rule, evaluation, resolved=False)

    # -- delivery ---------------------------------------------------------------------

    def _deliver(self, outbox: list[tuple[int, str, AlertRule, str, list[str]]], result: MonitorResult) -> None:
        if not outbox:
            return
        notifier = self.notifier or WebhookNotifier()
        try:
            log: dict[int, list[dict[str, Any]]] = {}
            for alert_id, event, rule, message, _ in outbox:
                urls = self.rules.webhook_urls(rule, default=self.default_webhook)
                payload = slack_payload(
                    event=event,
                    title=f"{rule.id} ({rule.severity})",
                    lines=[message, f"alert #{alert_id}" + (f" — {rule.description}" if rule.description else "")],
                )
                for url in urls:
                    delivery = notifier.send(url, payload, event=event)
                    result.deliveries.append(delivery)
                    log.setdefault(alert_id, []).append(delivery.as_dict())
        finally:
            if self.notifier is None:
                notifier.close()
        with Session(self.engine) as session:
            for alert_id, entries in log.items():
                row = session.get(Alert, alert_id)
                if row is not None:
                    row.notifications = json.dumps([*json.loads(row.notifications), *entries])
                    session.add(row)
            session.commit()


def _combined(metric: str, parts: Sequence[_Point], how: str | None) -> _Point:
    """One ungrouped point from the points of every group (each unit lies in exactly one group)."""
    volume = sum(part.volume for part in parts)
    measured = [part for part in parts if part.value is not None]
    if volume == 0 or not measured:
        return _Point({}, 0.0 if metric == "volume" else None, volume)
    if how == "mean":
        weight = sum(part.volume for part in measured)
        value = sum(float(part.value or 0.0) * part.volume for part in measured) / weight
    else:
        value = sum(float(part.value or 0.0) for part in measured)
    return _Point({}, value, volume)


def _value(metric: str, point: MetricPoint) -> float | None:
    # A window without traffic has volume 0, not "no value": `volume < 1` must be able to fire.
    if point.value is None and metric == "volume":
        return float(point.volume)
    return point.value


def _relative_change(value: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return value / baseline - 1.0


def _message(rule: AlertRule, evaluation: Evaluation, *, resolved: bool) -> str:
    value = "-" if evaluation.value is None else f"{evaluation.value:.4g}"
    where = _labels_text(evaluation.labels)
    if rule.baseline is not None:
        base = "-" if evaluation.baseline_value is None else f"{evaluation.baseline_value:.4g}"
        condition = f"change vs baseline {base} {rule.op} {rule.limit:+.0%}"
    else:
        condition = f"{rule.op} {rule.limit:g}"
    state = "back to normal" if resolved else "breached"
    return f"{rule.metric} = {value} ({condition}) over {rule.window} on {where}, n={evaluation.volume}: {state}"


# -- reads and acks for the CLI and the dashboard ----------------------------------------


def list_alerts(engine: Engine, *, state: str | None = None, limit: int = 100) -> list[AlertPublic]:
    """Alerts, newest first; ``state`` is open, acked, resolved or 'active' (open + acked)."""
    statement = select(Alert).order_by(col(Alert.opened_at).desc(), col(Alert.id).desc()).limit(limit)
    if state == "active":
        statement = statement.where(col(Alert.state).in_(("open", "acked")))
    elif state is not None:
        if state not in ("open", "acked", "resolved"):
            raise ConfigError(f"unknown alert state {state!r}: use open, acked, resolved or active")
        statement = statement.where(Alert.state == state)
    with Session(engine) as session:
        return [AlertPublic.from_row(row) for row in session.exec(statement)]


def ack_alert(engine: Engine, alert_id: int, *, by: str | None = None, now: datetime | None = None) -> AlertPublic:
    """Acknowledge an open alert: it stays active (deduplicated) and still resolves by itself."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Alert, alert_id)
        if row is None:
            raise ConfigError(f"no alert with id {alert_id}")
        if row.state == "resolved":
            raise ConfigError(f"alert {alert_id} is already resolved")
        if row.state == "open":
            row.state = "acked"
            row.acked_at = to_utc(now) if now else datetime.now(UTC)
            row.acked_by = by
            session.add(row)
            session.commit()
        return AlertPublic.from_row(row)
