"""Build RunResults from verdict matrices, vectorised, for gate and simulation tests (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from llmmon.checks.verdicts import Score
from llmmon.evals.results import CaseResult, Observation, RunResults, TrialResult


def make_run(
    passes: npt.ArrayLike,
    *,
    run_id: str = "run",
    must_pass: Mapping[int, bool] | None = None,
    hashes: Mapping[int, str] | None = None,
    unscored: npt.ArrayLike | None = None,
    scores: npt.ArrayLike | None = None,
    fingerprint: Mapping[str, str | None] | None = None,
    infrastructure_errors: tuple[str, ...] = (),
    incomplete: bool = False,
) -> RunResults:
    """One run from a cases x repeats (or 1-d) verdict grid; ``unscored`` marks judge failures."""
    grid = np.asarray(passes, dtype=bool)
    if grid.ndim == 1:
        grid = grid[:, None]
    missing = (
        np.zeros_like(grid) if unscored is None else np.asarray(unscored, dtype=bool).reshape(grid.shape)
    )
    values = None if scores is None else np.asarray(scores, dtype=float).reshape(grid.shape)
    cases = []
    for i in range(grid.shape[0]):
        trials = []
        for r in range(grid.shape[1]):
            if missing[i, r]:
                verdict = Score("judge:quality", None, None, status="unscored", error="judge timeout")
            else:
                value = float(grid[i, r]) if values is None else float(values[i, r])
                verdict = Score("judge:quality", value, bool(grid[i, r]), reason="recorded judge")
            trials.append(TrialResult(Observation(f"answer {i}", latency_ms=100.0), (verdict,)))
        cases.append(
            CaseResult(
                case_id=f"case-{i:04d}",
                case_hash=(hashes or {}).get(i, f"hash-{i}"),
                trials=tuple(trials),
                must_pass=(must_pass or {}).get(i, False),
            )
        )
    return RunResults(
        suite_name="sim",
        suite_hash="suite",
        cases=tuple(cases),
        run_id=run_id,
        fingerprint=dict(fingerprint or {"judge_model": "recorded"}),
        infrastructure_errors=infrastructure_errors,
        incomplete=incomplete,
    )


def noisy_pair(
    rng: np.random.Generator,
    *,
    n: int,
    noise: float,
    drop: float = 0.0,
    base_rate: float = 0.8,
    repeats: int = 1,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Judge verdicts of a deterministic target judged twice by a judge that flips ``noise`` of verdicts.

    ``drop`` turns that share of all cases from truly passing to truly failing in the candidate.
    """
    truth = rng.random(n) < base_rate
    candidate_truth = truth.copy()
    if drop:
        k = round(drop * n)
        candidate_truth[rng.choice(np.flatnonzero(truth), size=k, replace=False)] = False
    baseline = truth[:, None] ^ (rng.random((n, repeats)) < noise)
    candidate = candidate_truth[:, None] ^ (rng.random((n, repeats)) < noise)
    return baseline, candidate
