"""What an eval run calls: a Python callable, an HTTP endpoint, or an OpenAI-compatible model + prompt.

Every target turns a case into a ``TargetReply`` (the answer text, and the model and token usage
when the target reports them). Usage::

    target = build_target(suite.target, prompts_dir=Path("prompts"))
    reply = target.call(case)          # or: await target.acall(case) when target.is_async
    target.close()

``classify_error`` tells the runner which failures are worth a retry (transport errors, 429/5xx)
and which mean the target is unreachable (an infrastructure error, not a verdict on the case).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import httpx

from llmmon.errors import ConfigError, EvalSuiteError
from llmmon.evals.imports import resolve_import_path
from llmmon.evals.suite import CallableTarget, EvalCase, HttpTarget, ModelTarget, Target, canonical_hash

if TYPE_CHECKING:
    from llmmon.knowledge.index import KnowledgeIndex
    from llmmon.prompts import Prompt

__all__ = [
    "CallableEvalTarget",
    "EvalTarget",
    "HttpEvalTarget",
    "ModelEvalTarget",
    "TargetReply",
    "TargetResponseError",
    "build_target",
    "case_input",
    "classify_error",
    "knowledge_retriever",
    "parse_target_option",
    "reply_from",
]

ErrorKind = Literal["unreachable", "retryable", "error"]
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TargetReply:
    """The target's answer; ``model``/``usage`` when the target reported them (chat completions do)."""

    text: str
    model: str | None = None
    usage: Mapping[str, int] | None = None


class EvalTarget(Protocol):
    """One thing an eval run calls. ``label`` is shown in reports; ``fingerprint`` keys the output cache."""

    label: str
    fingerprint: str
    is_async: bool

    def call(self, case: EvalCase) -> TargetReply:
        """Call the target synchronously (``is_async`` False)."""
        ...

    async def acall(self, case: EvalCase) -> TargetReply:
        """Call the target on the event loop (``is_async`` True)."""
        ...

    def close(self) -> None:
        """Release clients the target created."""
        ...


def case_input(case: EvalCase) -> str | list[dict[str, str]]:
    """What the target receives: the question, or the chat messages with ``{{ variables }}`` filled in."""
    if isinstance(case.input, str):
        return case.input
    if not case.variables:
        return [{"role": m.role, "content": m.content} for m in case.input]
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return [{"role": m.role, "content": env.from_string(m.content).render(**case.variables)} for m in case.input]
    except jinja2.TemplateError as exc:
        raise EvalSuiteError(f"case {case.id!r}: cannot render its input messages: {exc}") from exc


def reply_from(value: Any) -> TargetReply:
    """Normalise what a target returned: text, a chat completion (object or dict), or a ``TargetReply``."""
    if isinstance(value, TargetReply):
        return value
    if isinstance(value, str):
        return TargetReply(value)
    choices = value.get("choices") if isinstance(value, Mapping) else getattr(value, "choices", None)
    if choices:
        first = choices[0]
        message = first.get("message") if isinstance(first, Mapping) else getattr(first, "message", None)
        content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
        model = value.get("model") if isinstance(value, Mapping) else getattr(value, "model", None)
        return TargetReply(str(content or ""), model=str(model) if model else None, usage=_usage_of(value))
    raise TypeError(f"the target returned {type(value).__name__}; expected text or a chat completion")


def _usage_of(completion: Any) -> dict[str, int] | None:
    usage = completion.get("usage") if isinstance(completion, Mapping) else getattr(completion, "usage", None)
    if usage is None:
        return None

    def read(name: str) -> int | None:
        raw = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
        return int(raw) if isinstance(raw, int | float) else None

    found = {
        "input_tokens": read("prompt_tokens"),
        "output_tokens": read("completion_tokens"),
        "total_tokens": read("total_tokens"),
    }
    return {key: value for key, value in found.items() if value is not None} or None


def classify_error(exc: BaseException) -> ErrorKind:
    """``unreachable``: could not talk to the target (retry, then infrastructure error);
    ``retryable``: 429/5xx (retry, then the case fails); ``error``: anything else (the case fails).
    """
    if isinstance(exc, httpx.HTTPStatusError):
        return "retryable" if exc.response.status_code in _RETRYABLE_STATUS else "error"
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return "unreachable"
    openai = sys.modules.get("openai")  # only a target that imported the SDK can raise its errors
    if openai is not None:
        if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
            return "unreachable"
        if isinstance(exc, openai.APIStatusError):
            return "retryable" if exc.status_code in _RETRYABLE_STATUS else "error"
    return "error"


class CallableEvalTarget:
    """``pkg.mod:fn``: called with the case input (a question string or a list of chat messages)."""

    def __init__(self, function: str) -> None:
        self.function = resolve_import_path(function)
        self.label = function
        self.fingerprint = canonical_hash({"type": "callable", "function": function})
        self.is_async = inspect.iscoroutinefunction(self.function)

    def call(self, case: EvalCase) -> TargetReply:
        """Call the function (sync); its result is normalised with ``reply_from``."""
        return reply_from(self.function(case_input(case)))

    async def acall(self, case: EvalCase) -> TargetReply:
        """Await the coroutine function."""
        return reply_from(await self.function(case_input(case)))

    def close(self) -> None:
        """Nothing to release."""


def _dig(document: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``data.answer``, ``choices.0.text``); a clear error names what is there."""
    current = document
    walked: list[str] = []
    for part in dotted.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            where = ".".join(walked) or "the top level"
            if isinstance(current, Mapping):
                found = f"fields there: {', '.join(sorted(map(str, current))) or 'none'}"
            elif isinstance(current, list):
                found = f"a list of {len(current)} item(s) there"
            else:
                found = f"a {type(current).__name__} there"
            raise TargetResponseError(
                f"the response has no field {dotted!r}: no {part!r} at {where} ({found}); "
                "set the target's response_field"
            )
        walked.append(part)
    return current


class TargetResponseError(ValueError):
    """The target answered, but not in the shape the suite expects (not JSON, no ``response_field``)."""


class HttpEvalTarget:
    """POST (or PUT) JSON ``{input_field: input, "variables": {...}}``; the answer is at ``response_field``.

    The client's read timeout is a little longer than the runner's ``timeout_s`` so that a slow
    endpoint is reported by the runner as "timed out" (the case fails) rather than as a transport
    error (which would be retried and counted as unreachable).
    """

    is_async = False

    def __init__(self, spec: HttpTarget, *, http_client: httpx.Client | None = None, timeout: float = 60.0) -> None:
        self.spec = spec
        self.label = spec.url
        self.fingerprint = canonical_hash(spec.model_dump(mode="json"))
        self._owns_client = http_client is None
        self._client = (
            http_client
            if http_client is not None
            else httpx.Client(timeout=httpx.Timeout(timeout + 5.0, connect=min(timeout, 10.0)))
        )

    def call(self, case: EvalCase) -> TargetReply:
        """One request; HTTP errors raise ``httpx.HTTPStatusError`` (5xx/429 are retried by the runner)."""
        body: dict[str, Any] = {self.spec.input_field: case_input(case)}
        if case.variables:
            body["variables"] = case.variables
        response = self._client.request(self.spec.method, self.spec.url, json=body, headers=self.spec.headers)
        if response.is_error:
            response.read()
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code} {response.reason_phrase} from {self.spec.method} {self.spec.url}: "
                f"{response.text[:300]!r}",
                request=response.request,
                response=response,
            )
        try:
            document = response.json()
        except ValueError as exc:
            raise TargetResponseError(f"the response is not JSON: {response.text[:200]!r}") from exc
        value = _dig(document, self.spec.response_field)
        if value is None:
            raise TargetResponseError(f"the response field {self.spec.response_field!r} is null")
        return reply_from(value if isinstance(value, str | Mapping) else str(value))

    async def acall(self, case: EvalCase) -> TargetReply:
        """Not used: the HTTP target is synchronous."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP client if this target created it."""
        if self._owns_client:
            self._client.close()


Retriever = Callable[[str], list[dict[str, str]]]
"""Passages for a question, as ``{"source", "text"}`` dicts (a prompt's ``passages`` variable)."""

_PROVIDED = frozenset({"question", "input"})


class ModelEvalTarget:
    """An OpenAI-compatible model answering with a prompt from ``prompts/``: gates a prompt change alone.

    The prompt is rendered with ``question`` (the case's question), ``input``, ``passages`` (from
    ``retriever``, e.g. the suite's knowledge base, when the prompt uses it) and the case's
    ``variables``; the call is traced by ``llmmon.wrap_openai`` (an ``llm`` span with usage).
    """

    is_async = False

    def __init__(
        self,
        spec: ModelTarget,
        *,
        prompts_dir: Path | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = 60.0,
        api_key: str | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        import openai

        from llmmon.prompts import prompt
        from llmmon.tracing.integrations.openai import wrap_openai

        self.spec = spec
        self.retriever = retriever
        self._owns_client = http_client is None
        self.prompt: Prompt = prompt(spec.prompt, spec.prompt_version, prompts_dir=prompts_dir)
        self.label = f"model:{spec.model} prompt:{self.prompt.name}@{self.prompt.version}"
        self.fingerprint = canonical_hash(
            {**spec.model_dump(mode="json", exclude={"api_key_env"}), "prompt_hash": self.prompt.hash}
        )
        key = api_key or (os.environ.get(spec.api_key_env) if spec.api_key_env else None)
        if spec.api_key_env and not key:
            raise ConfigError(f"model target: the environment variable {spec.api_key_env} is not set")
        self._client = wrap_openai(
            openai.OpenAI(
                base_url=spec.base_url,
                api_key=key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                timeout=timeout,
                max_retries=0,  # the runner retries (and counts) transport errors itself
                # openai types its client as httpx2.Client; an httpx.Client works the same at runtime.
                http_client=cast(Any, http_client),
            )
        )

    def missing_variables(self, cases: Sequence[EvalCase]) -> dict[str, list[str]]:
        """Prompt variables that some cases cannot fill, with those case ids (checked before any call)."""
        provided = _PROVIDED | ({"passages"} if self.retriever is not None else set())
        missing: dict[str, list[str]] = {}
        for case in cases:
            for name in sorted(self.prompt.variables - provided - case.variables.keys()):
                missing.setdefault(name, []).append(case.id)
        return missing

    def call(self, case: EvalCase) -> TargetReply:
        """Render the prompt for this case and ask the model."""
        variables: dict[str, Any] = {"question": case.question, "input": case.question}
        if "passages" in self.prompt.variables and self.retriever is not None and "passages" not in case.variables:
            variables["passages"] = self.retriever(case.question or "")
        variables.update(case.variables)
        wanted = {name: variables[name] for name in self.prompt.variables if name in variables}
        messages = self.prompt.render(**wanted)
        options: dict[str, Any] = {"model": self.spec.model, "messages": messages}
        temperature = self.spec.temperature if self.spec.temperature is not None else self.prompt.temperature
        if temperature is not None:
            options["temperature"] = temperature
        create: Any = self._client.chat.completions.create
        return reply_from(create(**options))

    async def acall(self, case: EvalCase) -> TargetReply:
        """Not used: the model target is synchronous."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the SDK client, unless its ``http_client`` was injected: that one stays the caller's
        (closing the SDK client would close it too, breaking the caller's next run)."""
        if self._owns_client:
            self._client.close()


def knowledge_retriever(index: KnowledgeIndex, *, k: int = 4) -> Retriever:
    """A retriever over a knowledge base: the ``k`` best passages, as the support prompt expects them."""

    def retrieve(question: str) -> list[dict[str, str]]:
        return [{"source": e.doc, "text": e.text} for e in index.search(question, k=k)]

    return retrieve


def parse_target_option(text: str) -> Target:
    """``--target``: ``pkg.mod:fn``, an ``http(s)://`` URL, or ``model:NAME@PROMPT`` (prompt from prompts/)."""
    if text.startswith(("http://", "https://")):
        return HttpTarget(type="http", url=text)
    if text.startswith("model:"):
        model, _, prompt_name = text.removeprefix("model:").partition("@")
        if not model or not prompt_name:
            raise ConfigError(f"--target {text!r}: use model:MODEL@PROMPT, e.g. model:gpt-4o-mini@support-answer")
        return ModelTarget(type="model", model=model, prompt=prompt_name)
    try:
        return CallableTarget(type="callable", function=text)
    except ValueError:
        raise ConfigError(f"--target {text!r}: expected pkg.mod:fn, an http(s):// URL or model:MODEL@PROMPT") from None


def build_target(
    spec: Target | None,
    *,
    prompts_dir: Path | None = None,
    http_client: httpx.Client | None = None,
    timeout: float = 60.0,
    retriever: Retriever | None = None,
) -> EvalTarget:
    """The callable form of a suite's (or ``--target``'s) target; ``ConfigError`` when there is none."""
    if spec is None:
        raise ConfigError("the suite names no target: add `target: pkg.mod:fn` to it or pass --target")
    if isinstance(spec, CallableTarget):
        return CallableEvalTarget(spec.function)
    if isinstance(spec, HttpTarget):
        return HttpEvalTarget(spec, http_client=http_client, timeout=timeout)
    return ModelEvalTarget(spec, prompts_dir=prompts_dir, http_client=http_client, timeout=timeout, retriever=retriever)
