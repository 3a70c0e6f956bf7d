"""The LLM judge client: one validated JSON verdict from any OpenAI-compatible endpoint.

``JudgeClient`` owns everything between a rendered judge prompt and a schema-valid
JSON object: the real ``openai`` SDK (so any compatible server works, including
llama.cpp's ``llama-server``), ``response_format`` JSON-schema constraints with a
fallback for endpoints that reject them, one repair retry on malformed output,
retries with exponential backoff on 429/5xx/timeouts (honouring ``Retry-After``), a
concurrency limit, a persistent cache in the database, and an evaluation span per
call (``is_eval=True``, tagged ``eval``) so the judge's tokens and cost never count
as the chatbot's.

Usage::

    judge = JudgeClient("http://127.0.0.1:8080/v1", "gemma3", cache_engine=engine)
    result = judge.complete(load_judge_prompt("judge/relevance"), {"question": q, "answer": a})
    result.output  # {"reason": "...", "score": 4}

Failures raise ``JudgeTransportError`` or ``JudgeOutputError``; the scorers turn them
into ``Score(status="unscored")``, never into a pass or a fail.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import httpx
import jsonschema
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from llmmon.errors import ConfigError, JudgeError, JudgeOutputError, JudgeTransportError
from llmmon.prompts import Prompt, prompt
from llmmon.storage.models.judge import JudgeCacheEntry

if TYPE_CHECKING:
    import openai

    from llmmon.config import Settings
    from llmmon.tracing.span import SpanRecord

__all__ = ["JudgeClient", "JudgeResult", "OutputValidator", "judge_prompts_dir", "load_judge_prompt"]

logger = logging.getLogger("llmmon.judge")

ResponseFormat = Literal["json_schema", "json_object", "none"]
OutputValidator = Callable[[dict[str, Any]], None]
"""Extra check on a schema-valid output; raise ``ValueError`` with a message the judge can act on."""

_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_PLACEHOLDER_KEY = "unused"  # local servers need no key, but the SDK insists on one


def judge_prompts_dir(prompts_dir: Path | None = None) -> Path:
    """Where judge prompts live: ``prompts_dir`` if given, else the ``prompts/`` shipped with llmmon."""
    if prompts_dir is not None:
        return prompts_dir
    return Path(__file__).resolve().parents[2] / "prompts"


def load_judge_prompt(name: str, version: str | None = None, *, prompts_dir: Path | None = None) -> Prompt:
    """Load judge prompt ``name`` (e.g. ``judge/faithfulness``) through the prompt registry."""
    return prompt(name, version, prompts_dir=judge_prompts_dir(prompts_dir))


@dataclass(frozen=True)
class JudgeResult:
    """A schema-valid judge output and how it was obtained."""

    output: dict[str, Any]
    raw_text: str
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    model: str
    cached: bool = False
    attempts: int = 0  # HTTP calls made (0 for a cache hit)
    repaired: bool = False
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0


class _OutputProblem(Exception):
    """Internal: the judge's text is not a schema-valid object (message goes into the repair turn)."""


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def _canonical(value: Any) -> Any:
    """JSON-ready form of judge inputs, stable across runs (dataclasses become dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _cache_key(judge_prompt: Prompt, model: str, variables: Mapping[str, Any]) -> str:
    payload = {
        "prompt": judge_prompt.name,
        "version": judge_prompt.version,
        "hash": judge_prompt.hash,
        "model": model,
        "inputs": _canonical(variables),
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse_output(
    text: str, schema: Mapping[str, Any] | None, validate: OutputValidator | None
) -> dict[str, Any]:
    match = _FENCE.match(text)
    body = match.group(1) if match else text.strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise _OutputProblem(f"the reply is not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(data, dict):
        raise _OutputProblem(f"the reply is JSON but not an object (got {type(data).__name__})")
    if schema is not None:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "the object"
            raise _OutputProblem(f"the JSON does not match the schema at {where}: {error.message}")
    if validate is not None:
        try:
            validate(data)
        except ValueError as exc:
            raise _OutputProblem(str(exc)) from exc
    return data


class JudgeClient:
    """A judge over any OpenAI-compatible chat endpoint; thread-safe.

    ``http_client`` lets callers (and tests) supply the transport. ``cache_engine`` is a
    migrated database; without it nothing is cached. ``timeout`` is per HTTP call,
    ``max_retries`` counts transport retries (429, 5xx, timeouts, refused connections),
    and at most ``max_concurrency`` calls are in flight at once across all threads.
    """

    def __init__(
        self,
        base_url: str | None,
        model: str,
        api_key: str | SecretStr | None = None,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
        cache_engine: Engine | None = None,
        response_format: ResponseFormat = "json_schema",
        max_tokens: int | None = 512,
        temperature: float | None = None,
        seed: int | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not model:
            raise ConfigError("the judge needs a model name (LLMMON_JUDGE_MODEL)")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ConfigError("judge: max_concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        import openai  # the SDK is imported only by code that calls an LLM

        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.cache_engine = cache_engine
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._response_format: ResponseFormat = response_format
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._retry_after_max_s = retry_after_max_s
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._cache_broken = False
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._owns_http_client = http_client is None
        # Retries are ours (to honour Retry-After and count attempts); the SDK must not add its own.
        self._client = openai.OpenAI(
            api_key=key or _PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            # openai types its client as httpx2.Client; an httpx.Client works the same at runtime.
            http_client=cast(Any, http_client),
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        cache_engine: Engine | None = None,
        **options: Any,
    ) -> JudgeClient:
        """Build the judge from ``LLMMON_JUDGE_*`` settings; ``ConfigError`` when no model is set."""
        if not settings.judge_model:
            raise ConfigError("no judge configured: set LLMMON_JUDGE_MODEL (and LLMMON_JUDGE_BASE_URL)")
        return cls(
            settings.judge_base_url,
            settings.judge_model,
            settings.judge_api_key,
            http_client=http_client,
            cache_engine=cache_engine,
            **options,
        )

    def __repr__(self) -> str:
        return f"JudgeClient(base_url={self.base_url!r}, model={self.model!r})"

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if the judge created it (an injected one belongs to the caller)."""
        if self._owns_http_client:
            self._client.close()

    # -- public API ------------------------------------------------------------------

    def complete(
        self,
        judge_prompt: Prompt,
        variables: Mapping[str, Any],
        *,
        validate: OutputValidator | None = None,
        use_cache: bool = True,
    ) -> JudgeResult:
        """Render ``judge_prompt`` with ``variables``, ask the endpoint, return the validated output.

        Raises ``JudgeTransportError`` when the endpoint fails after retries and
        ``JudgeOutputError`` when the reply (after one repair turn) is not schema-valid.
        """
        started = time.perf_counter()
        key = _cache_key(judge_prompt, self.model, variables)
        with self._eval_span(judge_prompt) as span:
            messages = judge_prompt.render(**variables)
            if span is not None:
                span.input = messages
            cached = self._cache_get(key, judge_prompt, validate) if use_cache else None
            if cached is not None:
                result = dataclasses.replace(cached, latency_ms=(time.perf_counter() - started) * 1000)
                if span is not None:
                    span.set_usage(input_tokens=0, output_tokens=0, total_tokens=0)
                    span.set_attributes({"judge.cache_hit": True, "judge.attempts": 0})
                    span.output = result.output
                return result
            result = self._ask(judge_prompt, messages, validate, span, started)
            if use_cache:
                self._cache_put(key, judge_prompt, result)
            return result

    def complete_many(
        self,
        judge_prompt: Prompt,
        variables_list: Sequence[Mapping[str, Any]],
        *,
        validate: OutputValidator | None = None,
    ) -> list[JudgeResult | JudgeError]:
        """Judge many inputs on ``max_concurrency`` threads; a failure is returned in its slot, not raised."""

        def run_one(variables: Mapping[str, Any]) -> JudgeResult | JudgeError:
            try:
                return self.complete(judge_prompt, variables, validate=validate)
            except JudgeError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="llmmon-judge") as pool:
            # Each task runs in a copy of the caller's context so its span nests under the caller's span.
            futures = [pool.submit(copy_context().run, run_one, variables) for variables in variables_list]
            return [future.result() for future in futures]

    # -- one judge call: request, parse, repair ---------------------------------------

    def _ask(
        self,
        judge_prompt: Prompt,
        messages: list[dict[str, str]],
        validate: OutputValidator | None,
        span: SpanRecord | None,
        started: float,
    ) -> JudgeResult:
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        attempts = 0
        schema = judge_prompt.output_schema
        conversation: list[dict[str, str]] = list(messages)
        raw_text = ""
        problem: _OutputProblem | None = None
        try:
            for turn in range(2):  # the first answer, then at most one repair turn
                text, calls, turn_usage = self._request(judge_prompt, conversation)
                attempts += calls
                for name, value in turn_usage.items():
                    usage[name] += value
                raw_text = text
                try:
                    output = _parse_output(text, schema, validate)
                except _OutputProblem as exc:
                    problem = exc
                    logger.info(
                        "judge %s: unusable reply (%s); %s",
                        judge_prompt.name,
                        exc,
                        "asking once more" if turn == 0 else "giving up",
                    )
                    conversation = [
                        *messages,
                        {"role": "assistant", "content": text},
                        {"role": "user", "content": self._repair_request(exc, schema)},
                    ]
                    continue
                return JudgeResult(
                    output=output,
                    raw_text=text,
                    prompt_name=judge_prompt.name,
                    prompt_version=judge_prompt.version,
                    prompt_hash=judge_prompt.hash,
                    model=self.model,
                    attempts=attempts,
                    repaired=turn > 0,
                    usage=dict(usage),
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            raise JudgeOutputError(
                f"judge {judge_prompt.name} {judge_prompt.version} on {self.model}: {problem}",
                raw_text=raw_text,
            )
        finally:
            if span is not None:
                span.set_usage(
                    input_tokens=usage["input_tokens"],
                    output_tokens=usage["output_tokens"],
                    total_tokens=usage["total_tokens"],
                )
                span.set_attributes({"judge.cache_hit": False, "judge.attempts": attempts})
                span.output = raw_text

    @staticmethod
    def _repair_request(problem: _OutputProblem, schema: Mapping[str, Any] | None) -> str:
        shape = f" that matches this JSON schema: {json.dumps(schema, ensure_ascii=False)}" if schema else ""
        return f"Your reply could not be used: {problem}. Reply again with only a JSON object{shape}."

    def _request(
        self, judge_prompt: Prompt, conversation: list[dict[str, str]]
    ) -> tuple[str, int, dict[str, int]]:
        """One chat completion with transport retries; returns (text, HTTP calls made, usage)."""
        import openai

        calls = 0
        attempt = 0
        while True:
            kwargs = self._request_options(judge_prompt, conversation)
            calls += 1
            try:
                with self._slots:
                    completion = self._client.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if exc.status_code == 400 and self._drop_response_format(exc, kwargs):
                    continue  # same attempt, without the constraint this endpoint rejected
                if exc.status_code not in _RETRYABLE_STATUS or attempt >= self.max_retries:
                    raise self._transport_error(
                        f"HTTP {exc.status_code}: {_short(exc.message)}", exc, calls
                    ) from exc
                delay = self._delay(attempt, _retry_after_seconds(exc.response.headers))
                logger.warning(
                    "judge %s: HTTP %s, retry %d/%d in %.2fs",
                    self.model,
                    exc.status_code,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
            except openai.APITimeoutError as exc:
                if attempt >= self.max_retries:
                    raise self._transport_error(f"timed out after {self.timeout:g}s", exc, calls) from exc
                delay = self._delay(attempt, None)
                logger.warning(
                    "judge %s: timeout, retry %d/%d in %.2fs",
                    self.model,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
            except openai.APIConnectionError as exc:
                if attempt >= self.max_retries:
                    cause = exc.__cause__ or exc
                    raise self._transport_error(f"cannot connect ({_short(str(cause))})", exc, calls) from exc
                delay = self._delay(attempt, None)
                logger.warning(
                    "judge %s: connection failed, retry %d/%d in %.2fs",
                    self.model,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
            else:
                return self._completion_text(completion), calls, self._completion_usage(completion)
            attempt += 1
            self._sleep(delay)

    def _request_options(self, judge_prompt: Prompt, conversation: list[dict[str, str]]) -> dict[str, Any]:
        options: dict[str, Any] = {"model": self.model, "messages": conversation}
        temperature = self.temperature if self.temperature is not None else judge_prompt.temperature
        if temperature is not None:
            options["temperature"] = temperature
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        if self.seed is not None:
            options["seed"] = self.seed
        schema = judge_prompt.output_schema
        with self._lock:
            response_format = self._response_format
        if response_format == "json_schema" and schema is not None:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", judge_prompt.name)[:64]
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": True},
            }
        elif response_format in ("json_schema", "json_object"):
            options["response_format"] = {"type": "json_object"}
        return options

    def _drop_response_format(self, exc: openai.APIStatusError, kwargs: Mapping[str, Any]) -> bool:
        """After a 400 that blames ``response_format``, stop sending it; True if a retry makes sense."""
        if "response_format" not in kwargs or "response_format" not in str(exc.message).lower() + str(
            exc.body
        ):
            return False
        with self._lock:
            self._response_format = "none"
        logger.warning(
            "judge %s: endpoint rejected response_format; relying on the prompt for JSON", self.model
        )
        return True

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._retry_after_max_s)
        ceiling = min(self._backoff_max_s, self._backoff_base_s * (2**attempt))
        return float(
            ceiling * (0.5 + random.random() / 2)
        )  # jitter keeps parallel workers from retrying in step

    def _transport_error(self, message: str, exc: Exception, calls: int) -> JudgeTransportError:
        request = getattr(exc, "request", None)
        return JudgeTransportError(
            f"judge endpoint {self.base_url or 'api.openai.com'} ({self.model}) "
            f"failed after {calls} call(s): {message}",
            request=request,
        )

    @staticmethod
    def _completion_text(completion: Any) -> str:
        choices = getattr(completion, "choices", None) or []
        if not choices:
            return ""
        return str(choices[0].message.content or "")

    @staticmethod
    def _completion_usage(completion: Any) -> dict[str, int]:
        usage = getattr(completion, "usage", None)
        if usage is None:
            return {}
        return {
            "input_tokens": int(usage.prompt_tokens or 0),
            "output_tokens": int(usage.completion_tokens or 0),
            "total_tokens": int(usage.total_tokens or 0),
        }

    # -- tracing ------------------------------------------------------------------------

    @contextmanager
    def _eval_span(self, judge_prompt: Prompt) -> Iterator[SpanRecord | None]:
        """An ``llm`` span marked ``is_eval`` so its cost is the judge's, never the app's."""
        from llmmon.tracing.context import activate, deactivate, finish_span, new_span

        span = new_span(judge_prompt.name, kind="llm")
        if span is None:
            yield None
            return
        span.is_eval = True
        span.add_tags("eval", "judge")
        span.model = self.model
        span.provider = "openai-compatible"
        token = activate(span)
        try:
            yield span
        except BaseException as exc:
            span.record_error(exc)
            raise
        finally:
            deactivate(token)
            finish_span(span)

    # -- cache ----------------------------------------------------------------------------

    def _cache_get(
        self, key: str, judge_prompt: Prompt, validate: OutputValidator | None
    ) -> JudgeResult | None:
        if self.cache_engine is None or self._cache_broken:
            return None
        try:
            with Session(self.cache_engine) as session:
                entry = session.get(JudgeCacheEntry, key)
        except SQLAlchemyError as exc:
            self._disable_cache(exc)
            return None
        if entry is None:
            return None
        try:
            output = _parse_output(entry.output, judge_prompt.output_schema, validate)
        except _OutputProblem:
            return None  # a stale or foreign entry: ask again and overwrite it
        return JudgeResult(
            output=output,
            raw_text=entry.output,
            prompt_name=judge_prompt.name,
            prompt_version=judge_prompt.version,
            prompt_hash=judge_prompt.hash,
            model=self.model,
            cached=True,
            usage={"input_tokens": entry.input_tokens or 0, "output_tokens": entry.output_tokens or 0},
        )

    def _cache_put(self, key: str, judge_prompt: Prompt, result: JudgeResult) -> None:
        if self.cache_engine is None or self._cache_broken:
            return
        entry = JudgeCacheEntry(
            cache_key=key,
            prompt_name=judge_prompt.name,
            prompt_version=judge_prompt.version,
            prompt_hash=judge_prompt.hash,
            model=self.model,
            output=json.dumps(result.output, ensure_ascii=False, sort_keys=True),
            input_tokens=result.usage.get("input_tokens"),
            output_tokens=result.usage.get("output_tokens"),
            created_at=datetime.now(UTC),
        )
        try:
            with Session(self.cache_engine) as session:
                session.merge(entry)
                session.commit()
        except IntegrityError:
            pass  # another thread stored the same key first; its output is as good as ours
        except SQLAlchemyError as exc:
            self._disable_cache(exc)

    def _disable_cache(self, exc: SQLAlchemyError) -> None:
        with self._lock:
            if self._cache_broken:
                return
            self._cache_broken = True
        logger.warning("judge cache disabled for this client: database error: %s", _short(str(exc)))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
