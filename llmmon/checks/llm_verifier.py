"""Tier-2 fact check: an LLM verifies one claim against its evidence passages.

``LlmClaimVerifier`` implements the ``ClaimVerifier`` seam of the fact checker. It
shows the judge the claim and the retrieved passages under short labels (``P1``,
``P2``, ...), asks for ``supported | contradicted | unverifiable`` with the passage and
the exact quoted span, and then checks that the quote really occurs in that passage:
a quote the model made up is sent back once for repair and, if still wrong, the
claim stays ``unverifiable``. A judge failure also leaves the claim ``unverifiable``
(with the error as its reason) -- never supported, never contradicted.

Usage::

    checker = FactChecker(index, verifier=LlmClaimVerifier(judge))
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmmon.checks.judge import JudgeClient, load_judge_prompt
from llmmon.checks.verdicts import Claim, ClaimVerdict, Evidence
from llmmon.errors import JudgeError

__all__ = ["LlmClaimVerifier", "locate_quote"]

_TRIM = " \t\r\n\"'“”‘’`.…"


def locate_quote(quote: str, passage: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``passage`` as (start, end), tolerating case, spacing and outer quotes.

    Returns None when it does not occur: the caller must not cite a span the passage lacks.
    """
    candidate = quote.strip(_TRIM)
    if not candidate:
        return None
    exact = passage.find(candidate)
    if exact >= 0:
        return exact, exact + len(candidate)
    # Models re-wrap lines and change case; match word by word with any whitespace between.
    words = candidate.split()
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.search(pattern, passage, flags=re.IGNORECASE)
    if match is None:
        return None
    return match.start(), match.end()


class LlmClaimVerifier:
    """Verifies a claim against evidence with the ``judge/claim-verification`` prompt."""

    def __init__(
        self,
        judge: JudgeClient,
        *,
        prompt_version: str | None = None,
        prompts_dir: Path | None = None,
        max_passages: int = 5,
        max_passage_chars: int = 2000,
    ) -> None:
        self.judge = judge
        self.max_passages = max_passages
        self.max_passage_chars = max_passage_chars
        self.prompt = load_judge_prompt("judge/claim-verification", prompt_version, prompts_dir=prompts_dir)

    def __call__(self, claim: Claim, evidence: Sequence[Evidence]) -> ClaimVerdict:
        return self.verify(claim, evidence)

    def verify(self, claim: Claim, evidence: Sequence[Evidence]) -> ClaimVerdict:
        """One verdict for ``claim``; the cited passage carries the verified quote in ``Evidence.quote``."""
        shown = list(evidence[: self.max_passages])
        if not shown:
            return ClaimVerdict(claim, "unverifiable", "llm", (), "No evidence passages were retrieved.")
        labelled = {f"P{number}": item for number, item in enumerate(shown, start=1)}
        passages = [
            {"id": label, "text": item.text[: self.max_passage_chars]} for label, item in labelled.items()
        ]
        texts = {entry["id"]: entry["text"] for entry in passages}

        def check_citation(output: dict[str, Any]) -> None:
            if output["verdict"] == "unverifiable":
                return
            label = output.get("passage_id")
            if label not in texts:
                known = ", ".join(texts)
                raise ValueError(
                    f"passage_id must be one of {known} for a {output['verdict']} verdict, got {label!r}"
                )
            if locate_quote(str(output.get("quote", "")), texts[label]) is None:
                raise ValueError(f"the quote {output.get('quote')!r} does not occur in passage {label}")

        try:
            result = self.judge.complete(
                self.prompt, {"claim": claim.text, "passages": passages}, validate=check_citation
            )
        except JudgeError as exc:
            return ClaimVerdict(claim, "unverifiable", "llm", tuple(shown), f"LLM verification failed: {exc}")
        output = result.output
        reason = " ".join(str(output.get("reason", "")).split())
        if output["verdict"] == "unverifiable":
            return ClaimVerdict(claim, "unverifiable", "llm", tuple(shown), reason)
        label = str(output["passage_id"])
        cited = labelled[label]
        span = locate_quote(str(output["quote"]), texts[label]) or (0, 0)  # check_citation found it
        quoted = dataclasses.replace(cited, quote=texts[label][span[0] : span[1]])
        return ClaimVerdict(claim, output["verdict"], "llm", (quoted,), reason)
