"""The monitor's JSON API: stored alerts (list, filter, acknowledge), drift between two windows,
and the canary report of two prompt versions -- what the Alerts, Drift and Canary pages show.

Reads need the ``read`` scope; acknowledging an alert needs ``admin``. Windows are durations
ending at ``end`` (default: the database's clock, the one every monitor and worker shares).
A parameter the monitor rejects (a seasonal reference over a window longer than a week, the
same baseline and candidate) is a 422 in the server's one error envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from llmmon.errors import ConfigError
from llmmon.monitor.alerts import AlertPublic, ack_alert
from llmmon.monitor.canary import CanaryReport, canary_report
from llmmon.monitor.drift import compute_drift
from llmmon.monitor.windows import Window, database_now, parse_duration, to_utc, window_ending
from llmmon.server.auth import Principal, require_scope
from llmmon.server.deps import EngineDep
from llmmon.server.errors import ApiError
from llmmon.storage.models.monitor_alerts import Alert

__all__ = [
    "DURATION_PATTERN",
    "AlertId",
    "AlertsPublic",
    "DriftReportPublic",
    "FeatureDriftPublic",
    "alerts",
    "canary",
    "drift",
    "router",
]

router = APIRouter(prefix="/v1", tags=["monitor"])

DURATION_PATTERN = r"^\d{1,4}(\.\d{1,3})?(s|m|h|d|w)$"
AlertState = Literal["open", "acked", "resolved", "active"]
Severity = Literal["info", "warning", "critical"]
Duration = Annotated[str, Query(pattern=DURATION_PATTERN, description="A length such as 30m, 1h, 1d or 7d")]
End = Annotated[datetime | None, Query(description="End of the current window (ISO 8601; default: now)")]
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The alert's id (an INTEGER column)")]
T = TypeVar("T")


# --------------------------------------------------------------------------- response models


class AlertsPublic(BaseModel):
    """Stored alerts, newest first."""

    data: list[AlertPublic]
    count: int


class WindowPublic(BaseModel):
    """A half-open UTC window ``[start, end)``."""

    start: datetime
    end: datetime


class BinPublic(BaseModel):
    """One bin's share in each window and its term of the PSI."""

    label: str
    reference_share: float
    current_share: float
    contribution: float


class FeatureDriftPublic(BaseModel):
    """The comparison of one feature between the windows (None where a test does not apply)."""

    feature: str
    kind: str
    reference_n: int
    current_n: int
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    drifted: bool
    top_bins: list[BinPublic]
    note: str


class DriftReportPublic(BaseModel):
    """Drift of every feature: PSI, KS and chi-square, the drifted flag and the top bins."""

    reference: list[WindowPublic]
    current: WindowPublic
    drifted: list[str]
    features: list[FeatureDriftPublic]


# --------------------------------------------------------------------------- shared logic


def monitor_call(function: Callable[[], T]) -> T:
    """Run a monitor function; its ConfigError (a bad parameter) becomes a 422, and so does a
    window reaching before year 1 or after 9999 (OverflowError of the datetime arithmetic)."""
    try:
        return function()
    except ConfigError as exc:
        raise ApiError(422, f"invalid request: {exc}") from None
    except OverflowError:
        raise ApiError(422, "invalid request: the window reaches outside the years 1-9999") from None


def current_window(engine: Engine, length: str, end: datetime | None) -> Window:
    """The window of ``length`` ending at ``end`` or, by default, at the database's now."""
    return monitor_call(lambda: window_ending(length, end=to_utc(end) if end else database_now(engine)))


def alerts(
    engine: Engine, *, state: str | None = None, severity: str | None = None, limit: int = 100
) -> list[AlertPublic]:
    """Alerts newest first; ``state`` 'active' is open + acked."""
    statement = select(Alert).order_by(col(Alert.opened_at).desc(), col(Alert.id).desc()).limit(limit)
    if state == "active":
        statement = statement.where(col(Alert.state).in_(("open", "acked")))
    elif state is not None:
        statement = statement.where(Alert.state == state)
    if severity is not None:
        statement = statement.where(Alert.severity == severity)
    with Session(engine) as session:
        return [AlertPublic.from_row(row) for row in session.exec(statement)]


def drift(
    engine: Engine, *, reference: str, current: str, seasonal: int | None, end: datetime | None
) -> DriftReportPublic:
    """Drift of the ``current`` window against the ``reference`` window just before it, or against
    the same hours of the previous ``seasonal`` weeks."""
    window = current_window(engine, current, end)

    def compute() -> DriftReportPublic:
        if seasonal is not None:
            report = compute_drift(engine, current=window, seasonal_weeks=seasonal)
        else:
            before = Window(start=window.start - parse_duration(reference), end=window.start)
            report = compute_drift(engine, current=window, reference=before)
        return DriftReportPublic.model_validate(report.to_dict())

    return monitor_call(compute)


def canary(
    engine: Engine, *, prompt: str, baseline: str, candidate: str, window: str, end: datetime | None, alpha: float
) -> CanaryReport:
    """The canary report of ``candidate`` against ``baseline`` over the window."""
    span = current_window(engine, window, end)
    return monitor_call(
        lambda: canary_report(
            engine, prompt=prompt, baseline=baseline, candidate=candidate, start=span.start, end=span.end, alpha=alpha
        )
    )


def acknowledge(engine: Engine, alert_id: int, principal: Principal) -> AlertPublic:
    """Ack an open alert (idempotent for an acked one); 404 unknown, 409 already resolved."""
    with Session(engine) as session:
        row = session.get(Alert, alert_id)
        state = None if row is None else row.state
    if state is None:
        raise ApiError(404, f"no alert with id {alert_id}")
    if state == "resolved":
        raise ApiError(409, f"alert {alert_id} is already resolved")
    return monitor_call(lambda: ack_alert(engine, alert_id, by=principal.source))


# --------------------------------------------------------------------------- routes

_read = [Depends(require_scope("read"))]
Text = Annotated[str, Query(min_length=1, max_length=256)]


@router.get("/alerts", response_model=AlertsPublic, summary="Alerts", dependencies=_read)
def list_alerts(
    engine: EngineDep,
    state: Annotated[AlertState | None, Query(description="open, acked, resolved, or active (open + acked)")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertsPublic:
    """Alerts the monitor stored, newest first, with last value, threshold and notification log."""
    rows = alerts(engine, state=state, severity=severity, limit=limit)
    return AlertsPublic(data=rows, count=len(rows))


@router.post("/alerts/{alert_id}/ack", response_model=AlertPublic, summary="Acknowledge an alert")
def post_ack(
    alert_id: AlertId, engine: EngineDep, principal: Annotated[Principal, Depends(require_scope("admin"))]
) -> AlertPublic:
    """Acknowledge an open alert (admin scope): it stays active and still resolves by itself."""
    return acknowledge(engine, alert_id, principal)


@router.get("/drift", response_model=DriftReportPublic, summary="Drift between two windows", dependencies=_read)
def get_drift(
    engine: EngineDep,
    reference: Duration = "7d",
    current: Duration = "1d",
    seasonal: Annotated[int | None, Query(ge=1, le=12, description="Reference: the same hours of N past weeks")] = None,
    end: End = None,
) -> DriftReportPublic:
    """Per feature: PSI, KS and chi-square tests, the drifted flag and the bins contributing most."""
    return drift(engine, reference=reference, current=current, seasonal=seasonal, end=end)


@router.get("/canary", response_model=CanaryReport, summary="Canary report", dependencies=_read)
def get_canary(
    engine: EngineDep,
    prompt: Text,
    baseline: Text,
    candidate: Text,
    window: Duration = "7d",
    end: End = None,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> CanaryReport:
    """Candidate vs baseline per metric with confidence intervals, and the verdict."""
    return canary(engine, prompt=prompt, baseline=baseline, candidate=candidate, window=window, end=end, alpha=alpha)
