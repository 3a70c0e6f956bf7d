"""The tier-2 seam: something that verifies one claim against its evidence passages.

The fact checker settles what it can deterministically and hands the rest to a
``ClaimVerifier`` (the LLM judge's ``LlmClaimVerifier`` in ``llmmon.checks.judge``). Anything with
a matching ``verify`` method works, which keeps the checker testable without an LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llmmon.checks.verdicts import Claim, ClaimVerdict, Evidence

__all__ = ["ClaimVerifier"]


@runtime_checkable
class ClaimVerifier(Protocol):
    """Verifies a claim against evidence; returns a verdict with tier ``"llm"``.

    Raise a :class:`llmmon.errors.JudgeError` when no verdict can be produced: the fact checker
    then keeps the deterministic verdict and records the failure as a warning.
    """

    def verify(self, claim: Claim, evidence: Sequence[Evidence]) -> ClaimVerdict:
        """The verdict on ``claim`` given ``evidence`` (best passage first)."""
        ...
