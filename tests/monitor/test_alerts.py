"""Alert monitor: rules over real metrics on SQLite and PostgreSQL, webhooks on a real local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.alerts import AlertMonitor, RegistryMetrics, ack_alert, list_alerts
from llmmon.monitor.notify import WebhookNotifier
from llmmon.monitor.rules import RuleSet, load_rules, parse_rules
from tests.monitor.traffic import Answer, write_answers
from tests.monitor.webhook_server import WebhookServer, closed_port_url

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KNOWN = RegistryMetrics().known_metrics()


def rules(*items: dict[str, object], channels: dict[str, str] | None = None) -> RuleSet:
    return parse_rules({"rules": list(items), "channels": channels or {}}, known_metrics=KNOWN, source="test.yaml")


def error_rule(url: str, **extra: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "id": "errors",
        "metric": "error_rate",
        "window": "5m",
        "op": ">",
        "threshold": 0.2,
        "min_volume": 10,
        "severity": "critical",
        "notify": [url],
    }
    rule.update(extra)
    return rule


def traffic(start: datetime, *, n: int, failing: int, version: str = "v1") -> list[Answer]:
    return [
        Answer(at=start + timedelta(seconds=i), status="error" if i < failing else "ok", prompt_version=version)
        for i in range(n)
    ]


def fast_notifier() -> WebhookNotifier:
    return WebhookNotifier(attempts=3, backoff_s=0.01, timeout_s=2.0)


# -- rule files --------------------------------------------------------------------------


def test_rules_unknown_metric_names_the_rule_and_lists_known_metrics(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {id: ok, metric: error_rate, threshold: 0.1}\n  - {id: typo, metric: latency_p98, threshold: 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_rules(path, known_metrics=KNOWN)
    message = str(info.value)
    assert str(path) in message and "rules[1] 'typo'" in message and "'latency_p98'" in message
    assert "latency_p99" in message and "hallucination_rate" in message


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"id": "r", "metric": "error_rate"}, "exactly one of 'threshold' or 'change_vs_baseline'"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "change_vs_baseline": 0.5}, "exactly one"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "window": "five minutes"}, "cannot read duration"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "op": "=="}, "op"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "notify": ["pager"]}, "neither a channel name nor a URL"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "severity": "urgent"}, "severity"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "treshold": 2}, "treshold"),
    ],
)
def test_rules_invalid_rule_is_a_config_error_naming_it(rule: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match="rules\\[0\\] 'r'") as info:
        rules(rule)
    assert expected in str(info.value)


def test_rules_duplicate_ids_and_unreadable_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate rule id 'a'"):
        rules({"id": "a", "metric": "volume", "threshold": 1}, {"id": "a", "metric": "volume", "threshold": 2})
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml", known_metrics=KNOWN)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(bad, known_metrics=KNOWN)


def test_rules_channel_names_resolve_to_urls() -> None:
    ruleset = rules(
        {"id": "a", "metric": "volume", "threshold": 1, "notify": ["oncall", "http://127.0.0.1:9/x"]},
        {"id": "b", "metric": "volume", "threshold": 1},
        channels={"oncall": "http://127.0.0.1:8/oncall"},
    )
    assert ruleset.webhook_urls(ruleset.rules[0]) == ["http://127.0.0.1:8/oncall", "http://127.0.0.1:9/x"]
    assert ruleset.webhook_urls(ruleset.rules[1], default="http://d/") == ["http://d/"]
    assert ruleset.webhook_urls(ruleset.rules[1]) == []


def test_monitor_refuses_rules_with_metrics_its_source_does_not_know(engine: Engine) -> None:
    ruleset = rules({"id": "lat", "metric": "latency_p99", "threshold": 1})

    class OnlyVolume(RegistryMetrics):
        def known_metrics(self) -> tuple[str, ...]:
            return ("volume",)

    with pytest.raises(ConfigError, match="rule 'lat': unknown metric 'latency_p99'; known metrics: volume"):
        AlertMonitor(engine, ruleset, metrics=OnlyVolume())


# -- firing, dedup, resolve ----------------------------------------------------------------


def test_alert_fires_once_per_rule_and_labels_then_resolves_with_a_notification(engine: Engine) -> None:
    write_answers(engine, traffic(T0, n=40, failing=20, version="v2") + traffic(T0, n=40, failing=0, version="v1"))
    with WebhookServer() as hook, fast_notifier() as notifier:
        monitor = AlertMonitor(engine, rules(error_rule(hook.url, group_by="prompt_version")), notifier=notifier)
        first = monitor.evaluate(now=T0 + timedelta(minutes=1))
        assert len(first.opened) == 1
        second = monitor.evaluate(now=T0 + timedelta(minutes=2))
        assert second.opened == [] and second.deliveries == []
        (alert,) = list_alerts(engine)
        assert alert.state == "open" and alert.labels["prompt_version"] == "v2"
        assert alert.last_value == pytest.approx(0.5) and alert.volume == 40
        assert len(hook.received) == 1
        firing = hook.received[0]
        assert "[FIRING] errors (critical)" in firing["text"] and "prompt_version=v2" in firing["text"]
        assert firing["blocks"][0]["type"] == "header"

        # The bad traffic leaves the window; healthy traffic follows: the alert resolves.
        write_answers(engine, traffic(T0 + timedelta(minutes=10), n=40, failing=0, version="v2"), seed=1)
        third = monitor.evaluate(now=T0 + timedelta(minutes=11))
        assert third.resolved == [alert.id]
        (resolved,) = list_alerts(engine)
        assert resolved.state == "resolved" and resolved.resolved_at == T0 + timedelta(minutes=11)
        assert [d["event"] for d in resolved.notifications] == ["firing", "resolved"]
        assert len(hook.received) == 2 and "[RESOLVED]" in hook.received[1]["text"]


def test_window_without_traffic_fires_nothing_and_does_not_resolve(engine: Engine) -> None:
    with WebhookServer() as hook, fast_notifier() as notifier:
        monitor = AlertMonitor(engine, rules(error_rule(hook.url)), notifier=notifier)
        result = monitor.evaluate(now=T0)
        assert [e.breached for e in result.evaluations] == [None]
        assert "volume 0 < min_volume 10" in result.evaluations[0].reason
        write_answers(engine, traffic(T0, n=20, failing=10))
        assert len(monitor.evaluate(now=T0 + timedelta(minutes=1)).opened) == 1
        # An hour later the window is empty: unknown, so the alert neither fires again nor resolves.
        quiet = monitor.evaluate(now=T0 + timedelta(hours=1))
        assert quiet.resolved == [] and quiet.opened == []
        assert [a.state for a in list_alerts(engine)] == ["open"]
        assert len(hook.received) == 1


def test_min_volume_zero_lets_a_no_traffic_rule_fire(engine: Engine) -> None:
    dead = {"id": "no-traffic", "metric": "volume", "window": "10m", "op": "<", "threshold": 1, "min_volume": 0}
    with WebhookServer() as hook, fast_notifier() as notifier:
        monitor = AlertMonitor(engine, rules({**dead, "notify": [hook.url]}), notifier=notifier)
        result = monitor.evaluate(now=T0)
        assert len(result.opened) == 1 and result.evaluations[0].value == 0
        write_answers(engine, traffic(T0 + timedelta(minutes=1), n=5, failing=0))
        assert len(monitor.evaluate(now=T0 + timedelta(minutes=2)).resolved) == 1
        events = [m["text"].split("]")[0] for m in hook.received]
        assert events == [":rotating_light: [FIRING", ":white_check_mark: [RESOLVED"]


def test_change_vs_baseline_compares_with_the_previous_window(engine: Engine) -> None:
    before = [Answer(at=T0 + timedelta(seconds=i * 10), latency_ms=500) for i in range(30)]
    after = [Answer(at=T0 + timedelta(minutes=5, seconds=i * 10), latency_ms=1200) for i in range(30)]
    write_answers(engine, before + after)
    rule = {
        "id": "slower",
        "metric": "latency_p50",
        "window": "5m",
        "op": ">",
        "change_vs_baseline": {"relative": 0.5, "against": "previous"},
        "min_volume": 10,
    }
    monitor = AlertMonitor(engine, rules(rule))
    (evaluation,) = monitor.evaluate_rule(monitor.rules.rules[0], now=T0 + timedelta(minutes=10))
    assert evaluation.breached is True
    assert evaluation.value == pytest.approx(1200) and evaluation.baseline_value == pytest.approx(500)
    # With no reference traffic the change is unknown, not infinite.
    (early,) = monitor.evaluate_rule(monitor.rules.rules[0], now=T0 + timedelta(minutes=5))
    assert early.breached is None and "baseline" in early.reason


def test_cooldown_reopens_a_flapping_alert_silently(engine: Engine) -> None:
    with WebhookServer() as hook, fast_notifier() as notifier:
        monitor = AlertMonitor(engine, rules(error_rule(hook.url, cooldown="30m")), notifier=notifier)
        write_answers(engine, traffic(T0, n=20, failing=10))
        opened = monitor.evaluate(now=T0 + timedelta(minutes=1)).opened
        write_answers(engine, traffic(T0 + timedelta(minutes=6), n=20, failing=0), seed=1)
        assert monitor.evaluate(now=T0 + timedelta(minutes=7)).resolved == opened
        write_answers(engine, traffic(T0 + timedelta(minutes=12), n=20, failing=10), seed=2)
        again = monitor.evaluate(now=T0 + timedelta(minutes=13))
        assert again.opened == [] and again.reopened == opened and again.deliveries == []
        (alert,) = list_alerts(engine)
        assert alert.state == "open" and alert.muted
        assert len(hook.received) == 2  # firing + resolved; the flap stayed quiet
        # After the cooldown a new episode pages again.
        write_answers(engine, traffic(T0 + timedelta(minutes=20), n=20, failing=0), seed=3)
        monitor.evaluate(now=T0 + timedelta(minutes=21))
        write_answers(engine, traffic(T0 + timedelta(minutes=60), n=20, failing=10), seed=4)
        late = monitor.evaluate(now=T0 + timedelta(minutes=61))
        assert len(late.opened) == 1 and late.opened != opened
        assert len(hook.received) == 3


def test_ack_keeps_the_alert_deduplicated_until_it_resolves(engine: Engine) -> None:
    write_answers(engine, traffic(T0, n=20, failing=10))
    monitor = AlertMonitor(engine, rules(error_rule("http://127.0.0.1:9/unused", notify=[])))
    (alert_id,) = monitor.evaluate(now=T0 + timedelta(minutes=1)).opened
    acked = ack_alert(engine, alert_id, by="alice", now=T0 + timedelta(minutes=2))
    assert acked.state == "acked" and acked.acked_by == "alice"
    assert monitor.evaluate(now=T0 + timedelta(minutes=3)).opened == []
    assert list_alerts(engine, state="active")[0].id == alert_id
    write_answers(engine, traffic(T0 + timedelta(minutes=10), n=20, failing=0), seed=1)
    assert monitor.evaluate(now=T0 + timedelta(minutes=11)).resolved == [alert_id]
    with pytest.raises(ConfigError, match="already resolved"):
        ack_alert(engine, alert_id)
    with pytest.raises(ConfigError, match="no alert with id 999"):
        ack_alert(engine, 999)


# -- webhook failures ------------------------------------------------------------------------


def test_webhook_returning_500_is_retried_and_recorded(engine: Engine) -> None:
    write_answers(engine, traffic(T0, n=20, failing=10))
    with WebhookServer(status=500) as hook, fast_notifier() as notifier:
        result = AlertMonitor(engine, rules(error_rule(hook.url)), notifier=notifier).evaluate(
            now=T0 + timedelta(minutes=1)
        )
        assert hook.hits == 3
    (delivery,) = result.failed_deliveries
    assert delivery.attempts == 3 and delivery.status == 500 and "HTTP 500" in (delivery.error or "")
    (alert,) = list_alerts(engine)
    assert alert.state == "open"
    assert alert.notifications[0]["ok"] is False and alert.notifications[0]["attempts"] == 3


def test_webhook_down_never_crashes_the_monitor(engine: Engine) -> None:
    write_answers(engine, traffic(T0, n=20, failing=10))
    with WebhookServer() as working, fast_notifier() as notifier:
        ruleset = rules(
            error_rule(closed_port_url(), notify=["down", "up"]),
            channels={"down": closed_port_url(), "up": working.url},
        )
        result = AlertMonitor(engine, ruleset, notifier=notifier).evaluate(now=T0 + timedelta(minutes=1))
        assert len(working.received) == 1  # the dead webhook does not stop the next one
    assert [d.ok for d in result.deliveries] == [False, True]
    failed = result.failed_deliveries[0]
    assert failed.status is None and "ConnectError" in (failed.error or "") and failed.attempts == 3
    stored = list_alerts(engine)[0].notifications
    assert [entry["ok"] for entry in stored] == [False, True]
    assert json.dumps(stored)  # the log is plain JSON


def test_drift_rule_fires_when_questions_get_longer(engine: Engine) -> None:
    rule = {"id": "drift", "metric": "drift_psi:input_length", "window": "1h", "threshold": 0.2, "min_volume": 30}
    monitor = AlertMonitor(engine, rules(rule))
    short = [Answer(at=T0 + timedelta(minutes=i), question="price of pro?" + "?" * (i % 7)) for i in range(7 * 60)]
    write_answers(engine, short)
    assert monitor.evaluate(now=T0).evaluations[0].breached is None  # nothing to compare yet
    steady = monitor.evaluate(now=T0 + timedelta(hours=7))  # hour 6 against hours 0-5: the same mix
    assert steady.opened == [] and steady.evaluations[0].value is not None and steady.evaluations[0].value < 0.2
    long = [
        Answer(at=T0 + timedelta(hours=7, minutes=i), question="Can I " + "really " * (5 + i % 9)) for i in range(60)
    ]
    write_answers(engine, long, seed=2)
    drifted = monitor.evaluate(now=T0 + timedelta(hours=8))
    assert len(drifted.opened) == 1
    assert drifted.evaluations[0].labels == {"feature": "input_length"} and drifted.evaluations[0].value > 0.2  # type: ignore[operator]


def test_shipped_default_rules_load_against_the_metric_registry() -> None:
    ruleset = load_rules(None, known_metrics=AlertMonitorSource().known_metrics())
    ids = {rule.id for rule in ruleset.rules}
    assert {"latency-p99-slo", "error-rate", "daily-cost-budget", "hallucination-rate", "thumbs-down-rate"} <= ids
    assert any(rule.metric.startswith("drift_psi") for rule in ruleset.rules)


AlertMonitorSource = RegistryMetrics
