"""Alert rules: the YAML file format, its validation, and the shipped defaults.

A rules file looks like::

    channels:                     # optional: names for webhook URLs used in ``notify``
      oncall: https://hooks.slack.com/services/...
    rules:
      - id: p99-latency
        metric: latency_p99        # a name from llmmon.monitor.metrics.METRICS
        filter: {prompt_name: support-answer}
        group_by: prompt_version     # one key: model, prompt_version, tag, user, metadata.<key>
        window: 15m
        op: ">"
        threshold: 8000            # or change_vs_baseline: 0.5 (relative, vs the window before)
        min_volume: 50
        severity: critical
        cooldown: 30m
        notify: [oncall]

Every error names the file and the rule (``rules[2] 'p99-latency': unknown metric ...``) so a
typo is found without reading a traceback.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmmon.errors import ConfigError
from llmmon.monitor.windows import parse_duration

__all__ = [
    "OPERATORS",
    "AlertRule",
    "Baseline",
    "RuleSet",
    "default_rules_path",
    "load_rules",
    "parse_rules",
]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Baseline(BaseModel):
    """Compare the window with an earlier one: the value is ``current / baseline - 1``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relative: float = Field(description="Relative change that fires, e.g. 0.5 for +50% (with op '>')")
    against: str = Field(
        default="previous",
        description="'previous' (the window just before) or a duration back, e.g. '7d' (same window a week ago)",
    )

    @field_validator("against")
    @classmethod
    def _check_against(cls, value: str) -> str:
        if value != "previous":
            parse_duration(value)
        return value

    def offset(self, window: timedelta) -> timedelta:
        """How far back the reference window ends, relative to the current window's end."""
        return window if self.against == "previous" else parse_duration(self.against)


class AlertRule(BaseModel):
    """One alert rule; see the module docstring for the YAML shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    metric: str
    filter: dict[str, str] = Field(default_factory=dict)
    group_by: str | None = None
    window: str = "5m"
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float | None = None
    change_vs_baseline: Baseline | float | None = None
    min_volume: int = Field(default=1, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown: str = "0s"
    notify: tuple[str, ...] = ()
    description: str = ""

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("cooldown")
    @classmethod
    def _check_cooldown(cls, value: str) -> str:
        if value.strip() not in ("0", "0s"):
            parse_duration(value)
        return value

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("change_vs_baseline", mode="before")
    @classmethod
    def _baseline_number(cls, value: Any) -> Any:
        return {"relative": value} if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_comparison(self) -> AlertRule:
        if (self.threshold is None) == (self.change_vs_baseline is None):
            raise ValueError("give exactly one of 'threshold' or 'change_vs_baseline'")
        return self

    @property
    def window_length(self) -> timedelta:
        return parse_duration(self.window)

    @property
    def cooldown_length(self) -> timedelta:
        return timedelta(0) if self.cooldown.strip() in ("0", "0s") else parse_duration(self.cooldown)

    @property
    def baseline(self) -> Baseline | None:
        value = self.change_vs_baseline
        return value if isinstance(value, Baseline) else None

    @property
    def limit(self) -> float:
        """The number the value is compared with: the threshold, or the relative change."""
        baseline = self.baseline
        if baseline is not None:
            return baseline.relative
        assert self.threshold is not None  # guaranteed by _one_comparison
        return self.threshold

    def is_breached(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.limit)


class RuleSet(BaseModel):
    """A validated rules file: rules plus named webhook channels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[AlertRule, ...] = ()
    channels: dict[str, str] = Field(default_factory=dict)
    source: str = "<memory>"

    def webhook_urls(self, rule: AlertRule, *, default: str | None = None) -> list[str]:
        """The URLs a rule notifies: channel names resolved, URLs kept, the default when none."""
        targets = list(rule.notify) or ([default] if default else [])
        return [self.channels.get(target, target) for target in targets]


def _rule_label(index: int, raw: Any) -> str:
    rule_id = raw.get("id") if isinstance(raw, Mapping) else None
    return f"rules[{index}] {rule_id!r}" if rule_id else f"rules[{index}]"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_rules(data: Any, *, known_metrics: Collection[str], source: str = "<memory>") -> RuleSet:
    """Validate a parsed rules document; every error names ``source`` and the rule."""
    if data is None:
        data = {}
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a rules file is a mapping with a 'rules' list")
    unknown_keys = set(data) - {"rules", "channels"}
    if unknown_keys:
        raise ConfigError(f"{source}: unknown top-level keys {sorted(unknown_keys)} (expected 'rules', 'channels')")
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{source}: 'rules' must be a list")
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        label = _rule_label(index, raw)
        try:
            rule = AlertRule.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {label}: {_describe(exc)}") from None
        except ConfigError as exc:  # from parse_duration inside a validator
            raise ConfigError(f"{source}: {label}: {exc}") from None
        if rule.metric not in known_metrics:
            raise ConfigError(
                f"{source}: {label}: unknown metric {rule.metric!r}; known metrics: {', '.join(sorted(known_metrics))}"
            )
        if rule.id in seen:
            raise ConfigError(f"{source}: {label}: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    channels = data.get("channels") or {}
    if not isinstance(channels, Mapping) or not all(isinstance(v, str) for v in channels.values()):
        raise ConfigError(f"{source}: 'channels' must map names to webhook URLs")
    for index, rule in enumerate(rules):
        for target in rule.notify:
            if target not in channels and "://" not in target:
                raise ConfigError(
                    f"{source}: rules[{index}] {rule.id!r}: notify target {target!r} is neither a channel name"
                    f" nor a URL (channels: {', '.join(sorted(channels)) or 'none'})"
                )
    return RuleSet(rules=tuple(rules), channels=dict(channels), source=source)


def default_rules_path() -> Path:
    """The rules shipped with llmmon (``llmmon/monitor/alerts.default.yaml``)."""
    return Path(str(resources.files("llmmon.monitor").joinpath("alerts.default.yaml")))


def load_rules(path: Path | None, *, known_metrics: Collection[str]) -> RuleSet:
    """Read and validate a rules file (the shipped defaults when ``path`` is None)."""
    path = path or default_rules_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_rules(data, known_metrics=known_metrics, source=str(path))
