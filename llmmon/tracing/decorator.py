"""``@llmmon.trace`` and ``llmmon.span``: turn calls and blocks into spans.

The caller's path only collects raw values (the argument tuple, the result object,
clock readings) and hands the finished span to the recorder; see ``recorder.py`` for
what happens afterwards. One decorator covers plain functions, coroutines, generators
and async generators (streams: the span ends when the stream is exhausted, fails or is
closed, records the time to the first chunk and the assembled output) and methods.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from time import perf_counter_ns, time_ns
from types import TracebackType
from typing import Any, TypeVar, overload

from llmmon.tracing.args import CallArgs, ParamNames, param_names
from llmmon.tracing.context import CURRENT_SPAN, SAMPLED_OUT, is_sampled_out
from llmmon.tracing.ids import new_span_id, new_trace_id
from llmmon.tracing.runtime import STATE, Runtime, get_runtime
from llmmon.tracing.span import SpanRecord

__all__ = ["SpanContext", "span", "trace"]

logger = logging.getLogger("llmmon")

F = TypeVar("F", bound=Callable[..., Any])

# Either a fixed value or a function of the traced call's arguments.
IdSource = str | Callable[..., Any] | None


class _Spec:
    """Everything the decorator knows about one traced function, computed once."""

    __slots__ = (
        "capture_input",
        "capture_output",
        "has_extras",
        "kind",
        "metadata",
        "name",
        "params",
        "session_id",
        "tags",
        "user_id",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        params: ParamNames,
        capture_input: bool,
        capture_output: bool,
        user_id: IdSource,
        session_id: IdSource,
        tags: tuple[str, ...],
        metadata: dict[str, Any] | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.params = params
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.user_id = user_id
        self.session_id = session_id
        self.tags = tags
        self.metadata = metadata
        self.has_extras = bool(user_id is not None or session_id is not None or tags or metadata)


def _resolve_id(source: IdSource, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> str | None:
    if source is None or isinstance(source, str):
        return source
    try:
        value = source(*args, **kwargs)
    except Exception as exc:  # a user callable failed: record the span without it
        logger.warning("llmmon: the %s callable raised %s: %s", what, type(exc).__name__, exc)
        return None
    return None if value is None else str(value)


def _apply_extras(spec: _Spec, span: SpanRecord, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if spec.user_id is not None:
        span.user_id = _resolve_id(spec.user_id, args, kwargs, "user_id")
    if spec.session_id is not None:
        span.session_id = _resolve_id(spec.session_id, args, kwargs, "session_id")
    if spec.tags:
        span.tags = list(spec.tags)
    if spec.metadata:
        span.attributes = dict(spec.metadata)


def _open_span(
    spec: _Spec, runtime: Runtime, parent: SpanRecord | None, args: Any, kwargs: Any
) -> SpanRecord:
    # Positional arguments: a keyword call costs this path ~0.2 us more.
    if parent is None:
        span = SpanRecord(new_span_id(), new_trace_id(), None, spec.name, spec.kind, time_ns(), 0)
    else:
        span = SpanRecord(new_span_id(), parent.trace_id, parent.span_id, spec.name, spec.kind, time_ns(), 0)
        # Children inherit who the trace is about, so per-user queries and purges see them.
        span.user_id = parent.user_id
        span.session_id = parent.session_id
    if spec.capture_input and runtime.capture_io:
        span.input = CallArgs(spec.params, args, kwargs or None)
    if spec.has_extras:
        _apply_extras(spec, span, args, kwargs)
    span.perf_start_ns = perf_counter_ns()
    return span


def _record_error(span: SpanRecord, exc: BaseException) -> None:
    if isinstance(exc, GeneratorExit | asyncio.CancelledError):
        span.status = "cancelled"
        span.error_type = type(exc).__qualname__
        return
    span.status = "error"
    span.error_type = type(exc).__qualname__
    try:
        span.error_message = str(exc)
    except Exception:  # a broken __str__ must not replace the user's exception
        span.error_message = f"<unprintable {type(exc).__qualname__}>"


def _hand_over(runtime: Runtime, span: SpanRecord) -> None:
    try:
        runtime.recorder.record(span)
    except Exception:  # a custom recorder broke its never-raise promise; protect the caller
        logger.warning("llmmon: recorder failed on span %r", span.name, exc_info=True)


def _assemble(chunks: list[Any]) -> Any:
    """Join text chunks into the streamed text; keep other chunks as a list."""
    if chunks and all(type(chunk) is str for chunk in chunks):
        return "".join(chunks)
    return chunks


def _end_stream(runtime: Runtime, span: SpanRecord, chunks: list[Any] | None) -> None:
    span.perf_end_ns = perf_counter_ns()
    if chunks is not None:
        span.output = _assemble(chunks)
    _hand_over(runtime, span)


# -- wrappers --------------------------------------------------------------------------


def _wrap_function(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        runtime = STATE.runtime or get_runtime()
        if not runtime.enabled:
            return fn(*args, **kwargs)
        parent = CURRENT_SPAN.get()
        if parent is None and runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate):
            skip = SAMPLED_OUT.set(True)
            try:
                return fn(*args, **kwargs)
            finally:
                SAMPLED_OUT.reset(skip)
        span = _open_span(spec, runtime, parent, args, kwargs)
        token = CURRENT_SPAN.set(span)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            span.perf_end_ns = perf_counter_ns()
            CURRENT_SPAN.reset(token)
            _record_error(span, exc)
            _hand_over(runtime, span)
            raise
        span.perf_end_ns = perf_counter_ns()
        CURRENT_SPAN.reset(token)
        if spec.capture_output and runtime.capture_io:
            span.output = result
        try:
            runtime.recorder.record(span)
        except Exception:
            logger.warning("llmmon: recorder failed on span %r", span.name, exc_info=True)
        return result

    return traced


def _wrap_coroutine(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        runtime = STATE.runtime or get_runtime()
        if not runtime.enabled:
            return await fn(*args, **kwargs)
        parent = CURRENT_SPAN.get()
        if parent is None and runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate):
            skip = SAMPLED_OUT.set(True)
            try:
                return await fn(*args, **kwargs)
            finally:
                SAMPLED_OUT.reset(skip)
        span = _open_span(spec, runtime, parent, args, kwargs)
        token = CURRENT_SPAN.set(span)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            span.perf_end_ns = perf_counter_ns()
            CURRENT_SPAN.reset(token)
            _record_error(span, exc)
            _hand_over(runtime, span)
            raise
        span.perf_end_ns = perf_counter_ns()
        CURRENT_SPAN.reset(token)
        if spec.capture_output and runtime.capture_io:
            span.output = result
        _hand_over(runtime, span)
        return result

    return traced


def _drive_generator(
    gen: Generator[Any, Any, Any],
    var: contextvars.ContextVar[Any],
    value: Any,
    finish: Callable[[BaseException | None], None] | None,
    on_chunk: Callable[[Any], None] | None,
) -> Generator[Any, Any, Any]:
    """Resume ``gen`` with ``var`` set to ``value`` each time, so the body sees its span as
    current while the consumer (between chunks) does not."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        token = var.set(value)
        try:
            if to_throw is not None:
                thrown, to_throw = to_throw, None
                item = gen.throw(thrown)
            else:
                item = gen.send(to_send)
        except StopIteration as stop:
            var.reset(token)
            if finish is not None:
                finish(None)
            return stop.value
        except BaseException as exc:
            var.reset(token)
            if finish is not None:
                finish(exc)
            raise
        var.reset(token)
        if on_chunk is not None:
            on_chunk(item)
        try:
            to_send = yield item
        except GeneratorExit as closing:
            # The consumer stopped early (close(), break, or garbage collection).
            token = var.set(value)
            try:
                gen.close()
            finally:
                var.reset(token)
                if finish is not None:
                    finish(closing)
            raise
        except BaseException as exc:  # thrown in by the consumer: forward to the body
            to_throw = exc


class _StreamSpan:
    """Bookkeeping of one traced stream: first-chunk time, chunks, and ending the span once."""

    __slots__ = ("chunks", "done", "runtime", "span")

    def __init__(self, runtime: Runtime, span: SpanRecord, *, capture_output: bool) -> None:
        self.runtime = runtime
        self.span = span
        self.chunks: list[Any] | None = [] if capture_output else None
        self.done = False

    def on_chunk(self, item: Any) -> None:
        if self.span.first_chunk_ns is None:
            self.span.first_chunk_ns = perf_counter_ns()
        if self.chunks is not None:
            self.chunks.append(item)

    def finish(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        if exc is not None:
            _record_error(self.span, exc)
        _end_stream(self.runtime, self.span, self.chunks)


def _wrap_generator(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        runtime = STATE.runtime or get_runtime()
        if not runtime.enabled:
            return (yield from fn(*args, **kwargs))
        parent = CURRENT_SPAN.get()
        if parent is None and runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate):
            return (yield from _drive_generator(fn(*args, **kwargs), SAMPLED_OUT, True, None, None))
        span = _open_span(spec, runtime, parent, args, kwargs)
        stream = _StreamSpan(runtime, span, capture_output=spec.capture_output and runtime.capture_io)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            stream.finish(exc)
            raise
        return (yield from _drive_generator(gen, CURRENT_SPAN, span, stream.finish, stream.on_chunk))

    return traced


def _wrap_async_generator(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        # The async twin of ``_drive_generator``, inlined: an async generator cannot
        # ``yield from``, and ``async for`` would not forward asend/athrow/aclose.
        runtime = STATE.runtime or get_runtime()
        var: contextvars.ContextVar[Any] = SAMPLED_OUT
        value: Any = SAMPLED_OUT.get()
        stream: _StreamSpan | None = None
        if runtime.enabled:
            parent = CURRENT_SPAN.get()
            if parent is None and runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate):
                value = True
            else:
                span = _open_span(spec, runtime, parent, args, kwargs)
                stream = _StreamSpan(runtime, span, capture_output=spec.capture_output and runtime.capture_io)
                var, value = CURRENT_SPAN, span
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            if stream is not None:
                stream.finish(exc)
            raise
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = var.set(value)
            try:
                if to_throw is not None:
                    thrown, to_throw = to_throw, None
                    item = await agen.athrow(thrown)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                var.reset(token)
                if stream is not None:
                    stream.finish(None)
                return
            except BaseException as exc:
                var.reset(token)
                if stream is not None:
                    stream.finish(exc)
                raise
            var.reset(token)
            if stream is not None:
                stream.on_chunk(item)
            try:
                to_send = yield item
            except GeneratorExit as closing:
                # The consumer stopped early (aclose(), break, or garbage collection).
                token = var.set(value)
                try:
                    await agen.aclose()
                finally:
                    var.reset(token)
                    if stream is not None:
                        stream.finish(closing)
                raise
            except BaseException as exc:  # thrown in by the consumer: forward to the body
                to_throw = exc

    return traced


# -- public API ------------------------------------------------------------------------


def _build_spec(
    fn: Callable[..., Any],
    *,
    name: str | None,
    kind: str,
    capture_input: bool,
    capture_output: bool,
    user_id: IdSource,
    session_id: IdSource,
    tags: Iterable[str] | None,
    metadata: Mapping[str, Any] | None,
) -> _Spec:
    return _Spec(
        name=name or str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "function")),
        kind=kind,
        params=param_names(fn),
        capture_input=capture_input,
        capture_output=capture_output,
        user_id=user_id,
        session_id=session_id,
        tags=tuple(dict.fromkeys(tags or ())),
        metadata=dict(metadata) if metadata else None,
    )


def _decorate(fn: Any, options: dict[str, Any]) -> Any:
    if isinstance(fn, classmethod | staticmethod):
        return type(fn)(_decorate(fn.__func__, options))
    spec = _build_spec(fn, **options)
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, spec)
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, spec)
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, spec)
    return _wrap_function(fn, spec)


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    func: None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "function",
    capture_input: bool = True,
    capture_output: bool = True,
    user_id: IdSource = None,
    session_id: IdSource = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "function",
    capture_input: bool = True,
    capture_output: bool = True,
    user_id: IdSource = None,
    session_id: IdSource = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Record every call of the decorated function as a span.

    Works on functions, coroutines, generators, async generators and methods. ``user_id``
    and ``session_id`` are a value or a callable receiving the call's arguments. The
    function's exceptions are recorded and re-raised unchanged. Usage::

        @llmmon.trace(name="answer", user_id=lambda question, user: user.id, tags=["support"])
        def answer(question: str, user: User) -> str: ...
    """
    options: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "capture_input": capture_input,
        "capture_output": capture_output,
        "user_id": user_id,
        "session_id": session_id,
        "tags": tags,
        "metadata": metadata,
    }
    if func is not None:
        return _decorate(func, options)
    return lambda fn: _decorate(fn, options)


class SpanContext:
    """The context manager behind ``llmmon.span``; usable with ``with`` and ``async with``."""

    __slots__ = ("_attributes", "_kind", "_name", "_runtime", "_skip_token", "_span", "_token")

    def __init__(self, name: str, kind: str, attributes: dict[str, Any]) -> None:
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._span: SpanRecord | None = None
        self._runtime: Runtime | None = None
        self._token: contextvars.Token[SpanRecord | None] | None = None
        self._skip_token: contextvars.Token[bool] | None = None

    def __enter__(self) -> SpanRecord:
        runtime = STATE.runtime or get_runtime()
        parent = CURRENT_SPAN.get()
        recorded = runtime.enabled and not (
            parent is None and runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate)
        )
        if not recorded:
            if runtime.enabled:
                self._skip_token = SAMPLED_OUT.set(True)
            # A detached span, so ``span.set_attribute(...)`` in the block still works.
            detached = SpanRecord(
                span_id="", trace_id="", parent_span_id=None, name=self._name, kind=self._kind,
                start_ns=0, perf_start_ns=0,
            )
            return detached
        span = SpanRecord(
            span_id=new_span_id(),
            trace_id=parent.trace_id if parent is not None else new_trace_id(),
            parent_span_id=parent.span_id if parent is not None else None,
            name=self._name,
            kind=self._kind,
            start_ns=time_ns(),
            perf_start_ns=perf_counter_ns(),
        )
        if parent is not None:
            span.user_id = parent.user_id
            span.session_id = parent.session_id
        if self._attributes:
            span.attributes = dict(self._attributes)
        self._span = span
        self._runtime = runtime
        self._token = CURRENT_SPAN.set(span)
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._skip_token is not None:
            SAMPLED_OUT.reset(self._skip_token)
            self._skip_token = None
        span, runtime, token = self._span, self._runtime, self._token
        if span is None or runtime is None or token is None:
            return
        span.perf_end_ns = perf_counter_ns()
        try:
            CURRENT_SPAN.reset(token)
        except (ValueError, RuntimeError):
            logger.debug("llmmon: span %r exited in another context", span.name)
        if exc is not None:
            _record_error(span, exc)
        _hand_over(runtime, span)
        self._span = self._token = None

    async def __aenter__(self) -> SpanRecord:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def span(name: str, *, kind: str = "span", **attributes: Any) -> SpanContext:
    """A span around a block; keyword arguments become the span's attributes. Usage::

        with llmmon.span("retrieve", k=5) as s:
            docs = index.search(question)
            s.output = [d.id for d in docs]
    """
    return SpanContext(name, kind, attributes)
