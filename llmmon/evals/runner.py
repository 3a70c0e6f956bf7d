"""Run a suite's cases × repeats against a target: concurrency, timeouts, retries, budget, Ctrl-C.

Every target call runs inside an ``eval.case`` span (tagged ``eval``, attributes ``eval.run_id``,
``eval.case_id``, ``eval.repeat``) so latency, tokens and cost come from the spans the call
produced (see ``usage.py``); judge calls run inside an ``eval.score`` span and count as judge cost.

Failure semantics (docs/eval-gate.md):

* the target raises or exceeds ``timeout_s``       -> the trial *fails*, the error is kept, the run goes on;
* transport errors and 429/5xx are retried ``retries`` times with back-off; a target that stays
  unreachable makes the trial *unscored* and is reported as an infrastructure error;
* the budget is exceeded                           -> no new calls; status ``incomplete``;
* Ctrl-C (or ``KeyboardInterrupt`` from the target) -> no new calls; status ``aborted``;
  finished trials are kept in both cases.

Usage::

    runner = EvalRunner(suite, target, run_id="run-1", scorers=setup.scorers, options=RunOptions(concurrency=8))
    outcome = runner.run()
    report = evaluate_gate(outcome.results, baseline, settings=suite.gate)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import llmmon
from llmmon.checks.verdicts import Score
from llmmon.evals.assertions import ScoredAssertion, Scorer, evaluate_assertions
from llmmon.evals.results import CaseResult, Observation, RunResults, TrialResult
from llmmon.evals.scoring import is_judge_unreachable
from llmmon.evals.suite import SCORER_ASSERTION_TYPES, EvalCase, EvalSuite, canonical_hash
from llmmon.evals.targets import EvalTarget, TargetReply, case_input, classify_error
from llmmon.evals.usage import CallUsage, SpanCollector, usage_of

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EvalRunner", "RunOptions", "RunOutcome", "RunStatus", "StoredOutput", "Trial", "output_key"]

RunStatus = Literal["complete", "incomplete", "aborted"]
# After this many judge calls in a row failed to reach the endpoint, stop asking (each would
# wait through the judge's own retries) and mark the remaining judge assertions unscored.
_JUDGE_BREAKER = 3


def output_key(case: EvalCase, target_fingerprint: str, repeat: int) -> str:
    """Cache key of a target output: what the target saw (input, variables), the target, the repeat."""
    return canonical_hash(
        {"input": case.model_dump(mode="json")["input"], "variables": case.variables,
         "target": target_fingerprint, "repeat": repeat}
    )  # fmt: skip


@dataclass(frozen=True)
class RunOptions:
    """Runner limits; the suite's values are the defaults, command-line options override them."""

    repeats: int = 1
    concurrency: int = 4
    timeout_s: float = 60.0
    retries: int = 2
    budget_usd: float | None = None
    retry_backoff_s: float = 0.25


@dataclass(frozen=True)
class StoredOutput:
    """A target output kept from an earlier run (``--rescore``, ``--rescore-baseline``)."""

    output: str
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class Trial:
    """One finished repeat of one case, with what the store needs besides the ``TrialResult``."""

    case: EvalCase
    repeat: int
    output_key: str
    result: TrialResult
    trace_id: str | None = None
    reused: bool = False


@dataclass
class RunOutcome:
    """What a run produced: results for the gate, the trials for the store, and how it ended."""

    run_id: str
    results: RunResults
    trials: list[Trial]
    status: RunStatus
    stop_reason: str | None
    planned: int
    reused_outputs: int = 0
    target_calls: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    """One call of the target (filled in by the thread or task that makes it)."""

    reply: TargetReply | None = None
    exc: BaseException | None = None
    timed_out: bool = False
    latency_ms: float | None = None
    trace_id: str | None = None
    usage: CallUsage = field(default_factory=CallUsage)


class _JudgeBreaker:
    """Wraps a scorer: once the judge endpoint failed ``_JUDGE_BREAKER`` times in a row, stop asking."""

    def __init__(self, inner: Scorer, runner: EvalRunner) -> None:
        self.inner = inner
        self.runner = runner

    def score(self, assertion: ScoredAssertion, *, case: EvalCase, observation: Observation) -> Score:
        if self.runner.judge_failures >= _JUDGE_BREAKER:
            return Score(
                name=assertion.label, value=None, passed=None, status="unscored",
                reason="judge unreachable", error=f"not asked: {self.runner.judge_error}",
            )  # fmt: skip
        score = self.inner.score(assertion, case=case, observation=observation)
        self.runner.note_judge(score)
        return score


class EvalRunner:
    """Runs one suite against one target (or only re-scores stored outputs when ``target`` is None)."""

    def __init__(
        self,
        suite: EvalSuite,
        target: EvalTarget | None,
        *,
        run_id: str,
        options: RunOptions | None = None,
        scorers: Mapping[str, Scorer] | None = None,
        collector: SpanCollector | None = None,
        prices: Any | None = None,
        stored_outputs: Mapping[str, StoredOutput] | None = None,
        target_fingerprint: str | None = None,
        label: str | None = None,
        fingerprint: Mapping[str, str | None] | None = None,
        console: Console | None = None,
        on_trial: Callable[[Trial], None] | None = None,
    ) -> None:
        if target is None and target_fingerprint is None:
            raise ValueError("without a target, pass the target_fingerprint of the stored outputs")
        self.suite = suite
        self.target = target
        self.run_id = run_id
        self.options = options or RunOptions(
            repeats=suite.repeats, concurrency=suite.concurrency, timeout_s=suite.timeout_s,
            retries=suite.retries, budget_usd=suite.budget_usd,
        )  # fmt: skip
        self.scorers: dict[str, Scorer] = {k: _JudgeBreaker(v, self) for k, v in (scorers or {}).items()}
        self.collector = collector
        self.prices = prices
        self.stored = dict(stored_outputs or {})
        self.target_fingerprint = target_fingerprint or (target.fingerprint if target is not None else "")
        self.label = label
        self.fingerprint = dict(fingerprint or {})
        self.console = console
        self.on_trial = on_trial
        self.judge_failures = 0
        self.judge_error: str | None = None
        self._trials: list[Trial] = []
        self._infra: dict[str, None] = {}
        self._status: RunStatus = "complete"
        self._stop_reason: str | None = None
        self._stopped = False
        self._abort: asyncio.Event | None = None
        self._chatbot_cost = 0.0
        self._judge_cost = 0.0
        self._calls = 0
        self._lock = threading.Lock()
        self._score_pool: concurrent.futures.ThreadPoolExecutor | None = None

    # -- public -----------------------------------------------------------------------

    @property
    def spent_usd(self) -> float:
        """Chatbot plus judge cost so far."""
        return self._chatbot_cost + self._judge_cost

    def stop(self, status: RunStatus, reason: str) -> None:
        """Start no new trial; ``aborted`` also stops waiting for the ones in flight."""
        if self._stopped:
            return
        self._stopped = True
        self._status = status
        self._stop_reason = reason
        if status == "aborted" and self._abort is not None:
            self._abort.set()

    def note_judge(self, score: Score) -> None:
        """Count consecutive judge-endpoint failures (thread-safe; feeds the breaker and exit code 3)."""
        with self._lock:
            if is_judge_unreachable(score):
                self.judge_failures += 1
                self.judge_error = score.error
                self._infra[f"judge unreachable: {score.error}"] = None
            elif score.status == "scored":
                self.judge_failures = 0

    def run(self, cases: Sequence[EvalCase] | None = None) -> RunOutcome:
        """Run every case (or ``cases``) × repeats; returns even when stopped early."""
        chosen = list(cases if cases is not None else self.suite.cases)
        planned = len(chosen) * self.options.repeats
        try:
            asyncio.run(self._main(chosen))
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the event loop's handler
            self.stop("aborted", "interrupted (Ctrl-C)")
        return RunOutcome(
            run_id=self.run_id,
            results=self._results(),
            trials=list(self._trials),
            status=self._status,
            stop_reason=self._stop_reason,
            planned=planned,
            reused_outputs=sum(t.reused for t in self._trials),
            target_calls=self._calls,
        )

    # -- the event loop ---------------------------------------------------------------

    async def _main(self, cases: list[EvalCase]) -> None:
        loop = asyncio.get_running_loop()
        self._abort = asyncio.Event()
        if self._stopped and self._status == "aborted":
            self._abort.set()
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGINT, self._on_sigint, loop)
                handler_installed = True
        work: Iterator[tuple[EvalCase, int]] = (
            (case, repeat) for case in cases for repeat in range(self.options.repeats)
        )
        self._score_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.concurrency, thread_name_prefix="llmmon-eval-score"
        )
        progress, task_id = self._start_progress(len(cases) * self.options.repeats)
        try:
            workers = [
                asyncio.create_task(self._worker(work, progress, task_id))
                for _ in range(min(self.options.concurrency, max(1, len(cases) * self.options.repeats)))
            ]
            await asyncio.gather(*workers)
        finally:
            if handler_installed:
                loop.remove_signal_handler(signal.SIGINT)
            # Scoring threads may still be busy with a judge call after an abort: don't wait for them.
            self._score_pool.shutdown(wait=not self._stopped, cancel_futures=True)
            if progress is not None:
                progress.stop()

    def _on_sigint(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop("aborted", "interrupted (Ctrl-C)")
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C raises KeyboardInterrupt as usual

    def _start_progress(self, total: int) -> tuple[Any, Any]:
        if self.console is None:
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"), console=self.console, transient=False,
        )  # fmt: skip
        task_id = progress.add_task(self.suite.name, total=total, status="")
        progress.start()
        return progress, task_id

    async def _worker(self, work: Iterator[tuple[EvalCase, int]], progress: Any, task_id: Any) -> None:
        while not self._stopped:
            try:
                case, repeat = next(work)  # a shared iterator: each trial is taken by exactly one worker
            except StopIteration:
                return
            trial = await self._run_trial(case, repeat)
            if trial is None:
                continue
            self._trials.append(trial)
            if trial.result.observation is not None and not trial.reused:
                self._chatbot_cost += trial.result.observation.cost_usd or 0.0
            self._judge_cost += trial.result.judge_cost_usd
            budget = self.options.budget_usd
            if budget is not None and self.spent_usd > budget:
                self.stop(
                    "incomplete",
                    f"budget exceeded: ${self.spent_usd:.4f} spent of ${budget:g} after {len(self._trials)} trial(s)",
                )
            if progress is not None:
                progress.update(task_id, advance=1, status=f"${self.spent_usd:.4f}")
            if self.on_trial is not None:
                self.on_trial(trial)

    # -- one trial --------------------------------------------------------------------

    async def _run_trial(self, case: EvalCase, repeat: int) -> Trial | None:
        key = output_key(case, self.target_fingerprint, repeat)
        stored = self.stored.get(key)
        if stored is not None:
            observation = Observation(
                output=stored.output, latency_ms=stored.latency_ms, cost_usd=stored.cost_usd,
                input_tokens=stored.input_tokens, output_tokens=stored.output_tokens,
                total_tokens=stored.total_tokens,
            )  # fmt: skip
            result = await self._score(case, repeat, observation)
            return Trial(case, repeat, key, result, stored.trace_id, reused=True)
        if self.target is None:
            return None  # re-scoring only: nothing stored for this trial
        attempt = await self._call_with_retries(case, repeat)
        if attempt is None:
            return None  # aborted while the call was in flight
        if attempt.timed_out:
            error = f"timed out after {self.options.timeout_s:g}s"
            return Trial(case, repeat, key, TrialResult(None, error=error), attempt.trace_id)
        if attempt.exc is not None:
            message = f"{type(attempt.exc).__name__}: {attempt.exc}"
            if classify_error(attempt.exc) == "unreachable":
                infra = f"target unreachable: {message}"
                self._infra[infra] = None
                return Trial(case, repeat, key, TrialResult(None, infrastructure_error=infra), attempt.trace_id)
            return Trial(case, repeat, key, TrialResult(None, error=message), attempt.trace_id)
        assert attempt.reply is not None
        observation = self._observation(attempt)
        result = await self._score(case, repeat, observation)
        return Trial(case, repeat, key, result, attempt.trace_id)

    def _observation(self, attempt: _Attempt) -> Observation:
        assert attempt.reply is not None
        usage = attempt.usage
        if usage.llm_spans == 0 and attempt.reply.usage:  # untraced client: use what the reply reported
            tokens = dict(attempt.reply.usage)
            cost = None
            if self.prices is not None and attempt.reply.model:
                cost = self.prices.cost_usd(
                    attempt.reply.model,
                    input_tokens=tokens.get("input_tokens"),
                    output_tokens=tokens.get("output_tokens"),
                )
            return Observation(
                output=attempt.reply.text, latency_ms=attempt.latency_ms, cost_usd=cost,
                input_tokens=tokens.get("input_tokens"), output_tokens=tokens.get("output_tokens"),
                total_tokens=tokens.get("total_tokens"),
            )  # fmt: skip
        return Observation(
            output=attempt.reply.text, latency_ms=attempt.latency_ms, cost_usd=usage.cost_usd,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, total_tokens=usage.total_tokens,
        )  # fmt: skip

    async def _call_with_retries(self, case: EvalCase, repeat: int) -> _Attempt | None:
        cost_of_failed = 0.0
        attempt: _Attempt | None = None
        for number in range(self.options.retries + 1):
            attempt = await self._call_once(case, repeat, number)
            if attempt is None:
                return None
            if isinstance(attempt.exc, KeyboardInterrupt):
                self.stop("aborted", f"interrupted (KeyboardInterrupt in the target on case {case.id!r})")
                return None
            if attempt.exc is None or attempt.timed_out:
                break
            if classify_error(attempt.exc) == "error" or number == self.options.retries:
                break
            cost_of_failed += attempt.usage.cost_usd or 0.0
            await asyncio.sleep(self.options.retry_backoff_s * (2**number))
        if attempt is not None and cost_of_failed:
            self._chatbot_cost += cost_of_failed
        return attempt

    async def _call_once(self, case: EvalCase, repeat: int, number: int) -> _Attempt | None:
        """One target call bounded by the timeout; None when the run was aborted meanwhile."""
        assert self.target is not None and self._abort is not None
        self._calls += 1
        attempt = _Attempt()
        if self.target.is_async:
            call: asyncio.Future[None] = asyncio.ensure_future(self._call_async(case, repeat, number, attempt))
        else:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            # A daemon thread per call: a hung target must not keep the process (or a pool) alive.
            threading.Thread(
                target=self._call_sync, args=(case, repeat, number, attempt, done),
                name="llmmon-eval-target", daemon=True,
            ).start()  # fmt: skip
            call = asyncio.wrap_future(done)
        aborted: asyncio.Future[Any] = asyncio.ensure_future(self._abort.wait())
        waiting: set[asyncio.Future[Any]] = {call, aborted}
        finished, _ = await asyncio.wait(waiting, timeout=self.options.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        aborted.cancel()
        if call in finished:
            return attempt
        call.cancel()
        if self.collector is not None and attempt.trace_id:
            self.collector.collect(attempt.trace_id)  # stop watching a call we gave up on
        if aborted in finished:
            return None
        attempt.timed_out = True
        attempt.latency_ms = self.options.timeout_s * 1000
        return attempt

    def _span_attributes(self, case: EvalCase, repeat: int, number: int) -> dict[str, Any]:
        return {"eval.run_id": self.run_id, "eval.case_id": case.id, "eval.repeat": repeat, "eval.attempt": number}

    def _call_sync(
        self, case: EvalCase, repeat: int, number: int, attempt: _Attempt, done: concurrent.futures.Future[None]
    ) -> None:
        assert self.target is not None
        try:
            with llmmon.span("eval.case", kind="eval", **self._span_attributes(case, repeat, number)) as root:
                self._open(root, case, attempt)
                started = time.perf_counter()
                try:
                    attempt.reply = self.target.call(case)
                    root.output = attempt.reply.text
                except BaseException as exc:  # recorded on the trial; KeyboardInterrupt stops the run
                    attempt.exc = exc
                    root.record_error(exc)
                attempt.latency_ms = (time.perf_counter() - started) * 1000
            self._close(attempt)
        finally:
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled: timed out or aborted
                done.set_result(None)

    async def _call_async(self, case: EvalCase, repeat: int, number: int, attempt: _Attempt) -> None:
        assert self.target is not None
        with llmmon.span("eval.case", kind="eval", **self._span_attributes(case, repeat, number)) as root:
            self._open(root, case, attempt)
            started = time.perf_counter()
            try:
                attempt.reply = await self.target.acall(case)
                root.output = attempt.reply.text
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # caught here so KeyboardInterrupt does not escape the event loop
                attempt.exc = exc
                root.record_error(exc)
            attempt.latency_ms = (time.perf_counter() - started) * 1000
        self._close(attempt)

    def _open(self, root: Any, case: EvalCase, attempt: _Attempt) -> None:
        root.add_tags("eval")
        root.input = {"case_id": case.id, "input": case_input(case)}
        attempt.trace_id = root.trace_id or None
        if self.collector is not None and attempt.trace_id:
            self.collector.watch(attempt.trace_id)

    def _close(self, attempt: _Attempt) -> None:
        if self.collector is not None and attempt.trace_id:
            attempt.usage = usage_of(self.collector.collect(attempt.trace_id), self.prices)

    # -- scoring ----------------------------------------------------------------------

    async def _score(self, case: EvalCase, repeat: int, observation: Observation) -> TrialResult:
        assertions = self.suite.assertions_for(case)
        needs_scorer = any(a.type in SCORER_ASSERTION_TYPES and a.type in self.scorers for a in assertions)
        if not needs_scorer:  # deterministic only: cheap, evaluated on the loop
            scores = evaluate_assertions(assertions, case=case, observation=observation, scorers=self.scorers)
            return TrialResult(observation, scores)
        loop = asyncio.get_running_loop()
        assert self._score_pool is not None
        scores, judge_cost = await loop.run_in_executor(self._score_pool, self._score_traced, case, repeat, observation)
        return TrialResult(observation, scores, judge_cost_usd=judge_cost)

    def _score_traced(self, case: EvalCase, repeat: int, observation: Observation) -> tuple[tuple[Score, ...], float]:
        attributes = {"eval.run_id": self.run_id, "eval.case_id": case.id, "eval.repeat": repeat}
        trace_id = ""
        with llmmon.span("eval.score", kind="eval", **attributes) as root:
            root.add_tags("eval")
            trace_id = root.trace_id
            if self.collector is not None and trace_id:
                self.collector.watch(trace_id)
            scores = evaluate_assertions(
                self.suite.assertions_for(case), case=case, observation=observation, scorers=self.scorers
            )
        judge_cost = 0.0
        if self.collector is not None and trace_id:
            judge_cost = usage_of(self.collector.collect(trace_id), self.prices).judge_cost_usd
        return scores, judge_cost

    # -- results ----------------------------------------------------------------------

    def _results(self) -> RunResults:
        by_case: dict[str, list[Trial]] = {}
        for trial in self._trials:
            by_case.setdefault(trial.case.id, []).append(trial)
        cases = tuple(
            CaseResult(
                case_id=case.id,
                case_hash=case.case_hash,
                trials=tuple(t.result for t in sorted(by_case[case.id], key=lambda t: t.repeat)),
                must_pass=case.must_pass,
                tags=tuple(case.tags),
            )
            for case in self.suite.cases
            if case.id in by_case
        )
        return RunResults(
            suite_name=self.suite.name,
            suite_hash=self.suite.suite_hash,
            cases=cases,
            run_id=self.run_id,
            label=self.label,
            fingerprint=self.fingerprint,
            chatbot_cost_usd=self._chatbot_cost,
            judge_cost_usd=self._judge_cost,
            incomplete=self._status != "complete",
            infrastructure_errors=tuple(self._infra),
        )
