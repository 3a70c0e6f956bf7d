"""The fact checker: an answer's claims against knowledge-base evidence, one verdict per claim and per answer.

Tier 1 (deterministic, every answer, no LLM) compares each claim with the evidence clauses that
are about the same thing (topic terms shared beyond the numbers themselves):

* quantities -- money, percentages, times, dates, durations, counts -- by normalised value;
* days of the week;
* polarity ("closed on Sundays" vs "open on Sundays");
* capitalised names and codes that appear nowhere in the KB.

Tier 2 (optional) hands the claims tier 1 cannot settle -- or all of them, when asked -- to a
:class:`~llmmon.checks.verifier.ClaimVerifier` such as the LLM judge.

Usage::

    checker = FactChecker(load_index(engine, "support"))
    result = checker.check("The store opens at 9 AM on Saturday.")
    result.verdict, result.score        # ('hallucinated', 0.95)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence, Sized
from dataclasses import dataclass, field
from typing import Literal, Protocol

from llmmon.checks.claims import split_claims
from llmmon.checks.entities import KbVocabulary, entity_candidates
from llmmon.checks.failure import classify_failure
from llmmon.checks.polarity import is_negated, negated_heads, negated_words
from llmmon.checks.quantities import Quantity, extract_quantities, is_same_value, roles_compatible
from llmmon.checks.segments import DAY_WORDS, Segment, SegmentCache, clause_spans, quantity_token, topic_terms
from llmmon.checks.terms import content_terms
from llmmon.checks.verdicts import AnswerVerdict, Claim, ClaimVerdict, Evidence, FactCheckResult
from llmmon.checks.verifier import ClaimVerifier
from llmmon.checks.weekdays import extract_weekdays
from llmmon.errors import LlmmonError

__all__ = ["EvidenceIndex", "FactChecker", "KbScope"]

KbScope = Literal["closed", "open"]

logger = logging.getLogger("llmmon")

# Hallucination score of a claim by what decided it; the answer's score is the highest.
_SCORE_CONTRADICTED = {"quantity": 0.95, "day": 0.9, "polarity": 0.85, "llm": 0.9}
_SCORE_UNKNOWN_ENTITY = 0.75
_SCORE_UNSUPPORTED_SPECIFIC = 0.65
_SCORE_UNVERIFIABLE_MAX = 0.45
# An unbacked fact that does not make the answer hallucinated (kb_scope="open") still ranks above
# plain unverifiable claims, but stays under 0.5.
_SCORE_UNKNOWN_ENTITY_LENIENT = 0.48
_SCORE_UNSUPPORTED_SPECIFIC_LENIENT = 0.47
_SCORE_SUPPORTED_MAX = 0.1
# How much of the claim's topic a clause must share before its numbers are compared with the claim's.
_MIN_TOPIC = 1.0
_MIN_TOPIC_SHARE = 0.3
_SUPPORT_SLACK = 0.2
# ... or this share of the best clause's score, for long claims (two clauses that each share ten
# terms with a claim are equally about it when they differ by one term seen only in the line).
_SUPPORT_SLACK_SHARE = 0.05
_QUESTION_WEIGHT = 0.5
_CONTEXT_WEIGHT = 0.5
_TITLE_WEIGHT = 0.25
# kb_scope="open": a term held by at most this many passages (or this share of the KB) is distinctive.
_DISTINCTIVE_MIN_PASSAGES = 3
_DISTINCTIVE_SHARE = 0.01
_MIN_NEGATED_SHARED = 2
# Capitalised words (a sentence's first word too: "Zodiac was released in 2007"); stop words drop out as terms.
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z0-9'’&-]*")
# A name: a run of capitalised words, with short function words inside ("Throne of Glass",
# "Wayside School is Falling Down").
_NAME_PHRASE = re.compile(
    r"\b[A-Z][A-Za-z0-9'’&-]*(?:\s+(?:(?:of|the|and|in|on|at|to|for|a|an|is|de|la|von|van|&)\s+)*[A-Z][A-Za-z0-9'’&-]*)*"
)
# A lone word before a sentence stop is an interjection ("Great. Tell me more", "Okay! ..."), not a name.
_INTERJECTION = re.compile(r"(?:^|(?<=[.!?]))\s*[A-Za-z]+\s*[,.!?]+")


class EvidenceIndex(Protocol):
    """What the checker needs from a knowledge base (``llmmon.knowledge.KnowledgeIndex`` has it)."""

    def search(self, query: str, *, k: int = 5) -> list[Evidence]:
        """The top ``k`` passages for ``query``, best first."""
        ...


@dataclass
class _ClaimFacts:
    """What tier 1 extracts from a claim once."""

    claim: Claim
    terms: frozenset[str]
    question_terms: frozenset[str]
    quantities: list[Quantity]
    days: frozenset[int]
    negated: bool
    name_terms: frozenset[str] = frozenset()  # terms of capitalised names in the claim or question
    # The same names one phrase at a time ("At the Water's Edge" -> {water, edge}).
    name_phrases: tuple[frozenset[str], ...] = ()
    question_quantities: tuple[Quantity, ...] = ()
    # The days each quantity is stated for: those of its own clause ("9 AM to 6 PM on weekdays, and
    # 10 AM to 2 PM on Saturday"), parallel to ``quantities``.
    quantity_days: tuple[frozenset[int], ...] = ()

    @property
    def subject_words(self) -> frozenset[str]:
        """Topic words of the claim and the question, without day and number tokens; empty when the
        claim itself has none ("Yes, at 6 PM.", a table row): then the question alone cannot rule
        a clause out."""
        if not any(":" not in t for t in self.terms):
            return frozenset()
        return frozenset(t for t in self.terms | self.question_terms if ":" not in t)


@dataclass
class _Outcome:
    """Tier 1's decision on one claim, with what ``classify_failure`` needs later."""

    verdict: ClaimVerdict
    score: float
    asserted: bool = False  # states a specific fact (number, day, name) that the KB does not back
    lenient_score: float = 0.0  # the score of an asserted claim when unbacked facts are not hallucinations
    decisive: list[Evidence] = field(default_factory=list)
    on_topic: bool = False  # the KB has a passage about this claim's topic


def _has_tokens(terms: frozenset[str]) -> bool:
    """True when ``terms`` holds ``day:``/``q:`` tokens (only then do a clause's days and numbers matter)."""
    return any(":" in term for term in terms)


def _weighted_overlap(terms: frozenset[str], seg: Segment) -> float:
    """Terms found in the clause count 1, in the rest of its line 0.5, only in the passage title 0.25."""
    if _has_tokens(terms):
        clause, line = seg.terms, seg.context_terms
    else:  # plain words: no need to work out the clause's days and numbers
        clause, line = seg.words, seg.line_words
    in_clause = terms & clause
    in_line = (terms & line) - in_clause
    in_title = (terms & seg.title_terms) - in_clause - in_line
    return len(in_clause) + _CONTEXT_WEIGHT * len(in_line) + _TITLE_WEIGHT * len(in_title)


def _without_units(text: str, quantities: list[Quantity]) -> str:
    """``text`` without its durations and percentages: "one year" must not make "three years in total"
    look on topic through the word "year"."""
    for q in reversed(quantities):
        if q.kind in ("duration", "percent"):
            text = text[: q.start] + " " + text[q.end :]
    return text


def _about_other_days(days: frozenset[int], seg: Segment) -> bool:
    """True when the clause (or, failing that, its line) names days and none of ``days``."""
    if not days:
        return False
    named = seg.days or seg.line_days
    return bool(named) and not (named & days)


def _day_parts(text: str) -> list[tuple[int, int, frozenset[int]]]:
    """The clauses of a claim with the days each is about; a clause naming none keeps the days of
    the clause before it ("On Saturday we open at 11 AM, and we close at 6 PM")."""
    parts: list[tuple[int, int, frozenset[int]]] = []
    carried: frozenset[int] = frozenset()
    for start, end in _list_items(text):
        days = extract_weekdays(text[start:end]) or carried
        carried = days
        parts.append((start, end, days))
    return parts


_LIST_COMMA = re.compile(r",\s+(?!(?:and|or|및|와|과)\b)")


def _list_items(text: str) -> list[tuple[int, int]]:
    """The claim's clauses, cut further at commas ("평일 오전 9시~오후 6시, 토요일 오전 10시~오후 2시")."""
    spans: list[tuple[int, int]] = []
    for start, end in clause_spans(text):
        cursor = start
        for match in _LIST_COMMA.finditer(text, start, end):
            spans.append((cursor, match.start()))
            cursor = match.end()
        spans.append((cursor, end))
    return spans


def _quantity_days(text: str, quantities: list[Quantity], days: frozenset[int]) -> tuple[frozenset[int], ...]:
    """For each quantity, the days its own clause names (all of the claim's when that is not clear)."""
    if len(days) < 2 or not quantities:
        return tuple(days for _ in quantities)
    parts = _day_parts(text)
    found: list[frozenset[int]] = []
    for quantity in quantities:
        own = next((d for a, b, d in parts if a <= quantity.start < b), frozenset())
        found.append(own or days)
    return tuple(found)


class FactChecker:
    """Checks answers against one knowledge base. Thread-safe; reuse one per KB.

    ``kb_scope`` says what the absence of a fact from the KB means:

    * ``"closed"`` (default) -- the KB is the authority on everything the bot may say (a support
      bot's hours, prices, policies). A claim that states a specific fact -- a number, a day, a
      name -- that no KB passage backs makes the answer ``hallucinated``.
    * ``"open"`` -- the KB is a sample of world knowledge (Wikipedia snippets, open-domain chat):
      a right answer often brings names and years the KB does not hold, so an unbacked fact is
      weak evidence. Only contradictions count, and only with a passage about the same subject
      (a shared distinctive term, not just "released in"); unbacked facts make the answer
      ``unverifiable``, with a score just under 0.5 so that they still rank above answers tier 1
      found nothing wrong with.

    ``unsupported_is_hallucination`` overrides the first half of that choice alone (None: follow
    ``kb_scope``).
    """

    def __init__(
        self,
        index: EvidenceIndex,
        *,
        verifier: ClaimVerifier | None = None,
        always_verify: bool = False,
        kb_scope: KbScope = "closed",
        unsupported_is_hallucination: bool | None = None,
        k: int = 5,
        segment_cache: SegmentCache | None = None,
    ) -> None:
        if always_verify and verifier is None:
            raise ValueError("always_verify=True needs a verifier")
        self.index = index
        self.verifier = verifier
        self.always_verify = always_verify
        if kb_scope not in ("closed", "open"):
            raise ValueError(f"kb_scope must be 'closed' or 'open', not {kb_scope!r}")
        self.kb_scope: KbScope = kb_scope
        self.unsupported_is_hallucination = (
            kb_scope == "closed" if unsupported_is_hallucination is None else unsupported_is_hallucination
        )
        self.k = k
        self._segments = segment_cache if segment_cache is not None else SegmentCache.for_index(index)
        self._vocabulary = KbVocabulary(index)

    # -- public -------------------------------------------------------------------------

    def check(
        self, answer: str, *, question: str | None = None, context: str | Sequence[str] | None = None
    ) -> FactCheckResult:
        """Verdicts for every claim of ``answer``; ``context`` is what the app itself retrieved (optional)."""
        warnings: list[str] = []
        if self._kb_is_empty():
            warnings.append("the knowledge base is empty: every claim is unverifiable")
        if not answer or not answer.strip():
            return FactCheckResult("unverifiable", 0.0, (), None, (*warnings, "the answer is empty"))
        claims = split_claims(answer)
        if not claims:
            return FactCheckResult("unverifiable", 0.0, (), None, (*warnings, "the answer makes no factual claims"))
        question_terms = content_terms(question) if question else frozenset()
        outcomes = [self._check_claim(claim, question, question_terms) for claim in claims]
        if self.verifier is not None:
            outcomes = [self._verify(outcome, warnings) for outcome in outcomes]
        verdict, score = self._answer_verdict(outcomes, kb_empty=bool(warnings) and self._kb_is_empty())
        failure = None
        if context is not None and verdict == "hallucinated":
            decisive = [o for o in outcomes if o.verdict.verdict == "contradicted" or o.asserted]
            failure = classify_failure(
                [(o.decisive, o.on_topic) for o in decisive],
                [context] if isinstance(context, str) else context,
            )
        return FactCheckResult(verdict, score, tuple(o.verdict for o in outcomes), failure, tuple(warnings))

    # -- tier 1 -------------------------------------------------------------------------

    def _kb_is_empty(self) -> bool:
        empty = getattr(self.index, "is_empty", None)
        return bool(empty) if isinstance(empty, bool) else False

    def _facts(self, claim: Claim, question: str | None, question_terms: frozenset[str]) -> _ClaimFacts:
        quantities = extract_quantities(claim.text)
        days = extract_weekdays(claim.text)
        names: frozenset[str] = frozenset()
        asked: tuple[Quantity, ...] = ()
        phrases: tuple[frozenset[str], ...] = ()
        if self.kb_scope == "open":
            names = content_terms(" ".join(_CAPITALISED.findall(f"{claim.text} {question or ''}")))
            asked = tuple(extract_quantities(question)) if question else ()
            phrases = tuple(
                terms
                for text in (claim.text, question or "")
                for phrase in _NAME_PHRASE.findall(_INTERJECTION.sub(" ", text))
                if (terms := content_terms(phrase))
            )
        return _ClaimFacts(
            name_phrases=phrases,
            name_terms=names,
            question_quantities=asked,
            quantity_days=_quantity_days(claim.text, quantities, days),
            claim=claim,
            terms=topic_terms(_without_units(claim.text, quantities), [], days),
            question_terms=question_terms - content_terms(claim.text),
            quantities=quantities,
            days=days,
            negated=is_negated(claim.text),
        )

    def _retrieve(self, facts: _ClaimFacts, question: str | None) -> list[Evidence]:
        query = facts.claim.text
        if question and len(facts.terms) < 4:
            query = f"{question} {query}"  # a terse answer ("Yes, at 6 PM.") needs the question's topic
        return self.index.search(query, k=self.k)

    def _segments_of(self, evidence: Sequence[Evidence]) -> list[tuple[Evidence, Segment]]:
        pairs: list[tuple[Evidence, Segment]] = []
        get_passage = getattr(self.index, "get", None)
        for item in evidence:
            title = ""
            if callable(get_passage):
                passage = get_passage(item.passage_id)
                title = getattr(passage, "title", "") or ""
            pairs.extend((item, seg) for seg in self._segments.get(item.passage_id, item.text, title=title))
        return pairs

    @staticmethod
    def _terms_for(
        facts: _ClaimFacts, extra: frozenset[str] = frozenset(), *, days: frozenset[int] | None = None
    ) -> frozenset[str]:
        """The claim's topic terms plus ``extra``, with its day tokens replaced by ``days`` when given."""
        terms = facts.terms | extra
        if days is not None:
            terms = frozenset(t for t in terms if not t.startswith("day:")) | {f"day:{d}" for d in days}
        return terms

    @staticmethod
    def _topic(facts: _ClaimFacts, seg: Segment, terms: frozenset[str]) -> float:
        """How much of the claim's topic a clause shares: clause terms count 1, line/title terms 0.5."""
        score = _weighted_overlap(terms, seg)
        if facts.question_terms:
            score += _QUESTION_WEIGHT * _weighted_overlap(facts.question_terms, seg)
        return score

    @staticmethod
    def _enough_topic(facts: _ClaimFacts, best: float, size: int) -> bool:
        needed = size + _QUESTION_WEIGHT * len(facts.question_terms)
        return best >= _MIN_TOPIC and best >= _MIN_TOPIC_SHARE * needed

    @staticmethod
    def _subject(facts: _ClaimFacts, seg: Segment) -> float:
        """How much of the claim's subject -- its words, not its days and numbers -- a clause (its line,
        its heading) names: "customer service" on Saturday is not "the store" on Saturday."""
        words = frozenset(t for t in facts.terms if ":" not in t)
        if not words:
            return 0.0  # "| Wednesday | 10:00 AM – 9:00 PM |": nothing to tell subjects apart by
        score = _weighted_overlap(words, seg)
        asked = frozenset(t for t in facts.question_terms if ":" not in t)
        if asked:
            score += _QUESTION_WEIGHT * _weighted_overlap(asked, seg)
        return score

    @staticmethod
    def _same_subject(subject: frozenset[str], seg: Segment) -> bool:
        """A clause is about the claim's subject only if it (its line or its heading) shares a topic
        *word* with the claim or the question: a day and a time alone do not make an order cut-off
        ("after 2 PM on Sunday") about the store's Sunday hours."""
        return not subject or bool(subject & (seg.line_words | seg.title_terms))

    def _check_quantity(
        self, facts: _ClaimFacts, position: int, pairs: list[tuple[Evidence, Segment]]
    ) -> tuple[str, Evidence, Segment, list[Quantity]] | None:
        """('supported'|'contradicted', evidence, clause, its values) or None when nothing is on topic.

        The quantity is compared with the clauses about the days its own clause names, about the
        claim's subject, that state a value of the same kind -- and, for a clock time, the same end
        of the span (an opening time is not compared with a closing time)."""
        quantity = facts.quantities[position]
        days = facts.quantity_days[position] if facts.quantity_days else facts.days
        others = frozenset(quantity_token(q) for q in facts.quantities if q is not quantity)
        terms = self._terms_for(facts, others, days=days)
        subject = facts.subject_words
        candidates = [
            (self._topic(facts, seg, terms), item, seg)
            for item, seg in pairs
            if any(q.key == quantity.key and roles_compatible(quantity, q) for q in seg.quantities)
            and not _about_other_days(days, seg)
            and self._same_subject(subject, seg)
        ]
        if not candidates:
            return None
        best = max(score for score, _, _ in candidates)
        if not self._enough_topic(facts, best, len(terms)):
            return None
        # The subject's words count twice: a clause about the store on Saturday that shares the
        # claim's day and numbers must not outrank the customer-service clause the claim is about.
        candidates = [(score + self._subject(facts, seg), item, seg) for score, item, seg in candidates]
        best = max(score for score, _, _ in candidates)
        slack = max(_SUPPORT_SLACK, _SUPPORT_SLACK_SHARE * best)
        for score, item, seg in sorted(candidates, key=lambda c: -c[0]):
            same = [q for q in seg.quantities if is_same_value(quantity, q) and roles_compatible(quantity, q)]
            if score >= best - slack and same:
                return "supported", item, seg, same
        # The most specific clause: the best topic, then the one naming the quantity's own days.
        score, item, seg = max(candidates, key=lambda c: (c[0], bool(c[2].days & days)))
        return (
            "contradicted",
            item,
            seg,
            [q for q in seg.quantities if q.key == quantity.key and roles_compatible(quantity, q)],
        )

    def _check_days(
        self, facts: _ClaimFacts, pairs: list[tuple[Evidence, Segment]]
    ) -> tuple[str, Evidence, Segment] | None:
        terms = self._terms_for(facts, days=frozenset())
        candidates = [(self._topic(facts, seg, terms), item, seg) for item, seg in pairs if seg.days]
        # Only clauses of the claim's polarity: "closed on Sunday" says nothing against "open Monday to Friday".
        good = [
            c for c in candidates if self._enough_topic(facts, c[0], len(facts.terms)) and c[2].negated == facts.negated
        ]
        if not good:
            return None
        named = frozenset().union(*(seg.days or seg.line_days for _, _, seg in good))
        if facts.days <= named:
            _, item, seg = max(good, key=lambda c: (bool(c[2].days & facts.days), c[0]))
            return "supported", item, seg
        if facts.days & named:
            return None  # partly named: tier 1 cannot tell
        _, item, seg = max(good, key=lambda c: c[0])
        return "contradicted", item, seg

    def _check_polarity(
        self, facts: _ClaimFacts, pairs: list[tuple[Evidence, Segment]]
    ) -> tuple[str, Evidence, Segment, float] | None:
        terms = frozenset(t for t in facts.terms if not t.startswith("day:"))
        # With a day to anchor it, one shared term is enough ("일요일에도 영업" / "일요일은 휴무").
        day_pairs = (
            [(item, seg) for item, seg in pairs if facts.days & (seg.days or seg.line_days)] if facts.days else []
        )
        if facts.days and day_pairs:
            pairs, min_shared = day_pairs, 1
        else:
            min_shared = 2
        if len(terms) < min_shared:
            return None
        scored: list[tuple[float, Evidence, Segment]] = []
        for item, seg in pairs:
            if _about_other_days(facts.days, seg):
                continue
            shared = _weighted_overlap(terms, seg)
            if len(terms & seg.words) >= min_shared:
                # A clause that names the claim's own day outranks one that only shares words.
                scored.append((shared / len(terms) + 0.5 * bool(facts.days & seg.days), item, seg))
        if not scored:
            return None
        best = max(share for share, _, _ in scored)
        close = [(s, item, seg) for s, item, seg in scored if s >= best - 0.15]
        same = [c for c in close if c[2].negated == facts.negated]

        def specific(c: tuple[float, Evidence, Segment]) -> tuple[float, int]:
            # Ties go to the clause that adds the fewest words the claim does not state: "일요일은
            # 휴무입니다" over "일요일에는 고객센터가 운영하지 않습니다" for a claim about opening.
            return c[0], -len(c[2].words - terms)

        if same:
            share, item, seg = max(same, key=specific)
            return "agrees", item, seg, share - 0.5 * bool(facts.days & seg.days)
        share, item, seg = max(close, key=specific)
        share -= 0.5 * bool(facts.days & seg.days)
        # A clause that denies the claim's own days outright ("closed on Sunday") needs no numbers to
        # contradict "opens at 10 AM on Sunday"; any other needs numbers to be about the same thing.
        denies_the_days = bool(facts.days) and facts.days <= seg.days
        if share < 0.6 or seg.conditional_negation or (facts.quantities and not seg.quantities and not denies_the_days):
            return None
        return "flipped", item, seg, share

    def _check_claim(self, claim: Claim, question: str | None, question_terms: frozenset[str]) -> _Outcome:
        facts = self._facts(claim, question, question_terms)
        evidence = self._retrieve(facts, question)
        if not evidence:
            reason = "no passage in the knowledge base matches this claim"
            return _Outcome(ClaimVerdict(claim, "unverifiable", "deterministic", (), reason), 0.3)
        pairs = self._segments_of(evidence)
        # An invented name first: its numbers would otherwise be compared with a real product's.
        unknown = self._unknown_entities(facts, question, evidence)
        if unknown:
            reason = f"mentions {', '.join(repr(u) for u in unknown)}, which the knowledge base never mentions"
            verdict = ClaimVerdict(claim, "unverifiable", "deterministic", tuple(evidence[:3]), reason)
            return _Outcome(verdict, _SCORE_UNKNOWN_ENTITY, asserted=True, lenient_score=_SCORE_UNKNOWN_ENTITY_LENIENT)
        supports: list[tuple[Evidence, Segment]] = []
        on_topic = False
        unsettled: list[Quantity] = []
        polarity_of: list[tuple[str, Evidence, Segment, float] | None] = []

        def polarity() -> tuple[str, Evidence, Segment, float] | None:
            if not polarity_of:
                polarity_of.append(self._polarity(facts, pairs))
            return polarity_of[0]

        def same_day_flip() -> _Outcome | None:
            """A clause that says the opposite about the claim's own day ("일요일은 휴무입니다" against
            "일요일에는 오전 10시에 문을 엽니다") is the most specific evidence there is."""
            found = polarity() if facts.days else None
            if found is None or found[0] != "flipped" or not (found[2].days & facts.days):
                return None
            return self._flipped(facts, found[1], found[2])

        for position, quantity in enumerate(facts.quantities):
            found = self._check_quantity(facts, position, pairs)
            if found is not None and found[0] == "contradicted" and not self._contradiction_holds(facts, found):
                found = None  # kb_scope="open": a passage about another subject says nothing about this one
            if found is None:
                unsettled.append(quantity)
                continue
            on_topic = True
            status, item, seg, values = found
            if status == "contradicted":
                stated = ", ".join(q.text for q in values)
                reason = f"the claim says {quantity.text!r}; the knowledge base says {stated!r} here"
                return same_day_flip() or self._contradicted(claim, item, seg, reason, "quantity")
            supports.append((item, seg))
        backed_days = (
            frozenset().union(*(seg.days or seg.line_days for _, seg in supports)) if supports else frozenset()
        )
        if facts.days and not facts.days <= backed_days:
            day_result = self._check_days(facts, pairs)
            if day_result is not None and day_result[0] == "contradicted" and not self._anchored(facts, day_result[2]):
                day_result = None
            if day_result is not None:
                on_topic = True
                status, item, seg = day_result
                if status == "contradicted":
                    reason = "the knowledge base states this for other days of the week"
                    return same_day_flip() or self._contradicted(claim, item, seg, reason, "day")
                supports.append((item, seg))
        flip = polarity()
        if flip is not None:
            on_topic = True
            status, item, seg, share = flip
            if status == "flipped":
                return self._flipped(facts, item, seg)
            if share >= 0.75:
                supports.append((item, seg))
        if unsettled:
            reason = (
                f"no passage about this topic states {', '.join(repr(q.text) for q in unsettled)}"
                if not supports
                else f"part of the claim's numbers are backed; {', '.join(repr(q.text) for q in unsettled)} is not"
            )
            verdict = ClaimVerdict(claim, "unverifiable", "deterministic", tuple(evidence[:3]), reason)
            return _Outcome(
                verdict,
                _SCORE_UNSUPPORTED_SPECIFIC,
                asserted=True,
                on_topic=on_topic,
                lenient_score=_SCORE_UNSUPPORTED_SPECIFIC_LENIENT,
            )
        coverage = self._coverage(facts, pairs)
        if supports:
            quotes = tuple(self._quote(item, seg) for item, seg in dict.fromkeys(supports))
            reason = "the knowledge base states the same " + ("values" if facts.quantities or facts.days else "fact")
            verdict = ClaimVerdict(claim, "supported", "deterministic", quotes, reason)
            return _Outcome(verdict, _SCORE_SUPPORTED_MAX * (1 - coverage), on_topic=True)
        reason = (
            "related passages found, but tier 1 cannot settle this claim"
            if coverage > 0
            else ("no passage about this topic")
        )
        verdict = ClaimVerdict(claim, "unverifiable", "deterministic", tuple(evidence[:3]), reason)
        return _Outcome(verdict, _SCORE_UNVERIFIABLE_MAX * (1 - coverage), on_topic=on_topic)

    def _polarity(
        self, facts: _ClaimFacts, pairs: list[tuple[Evidence, Segment]]
    ) -> tuple[str, Evidence, Segment, float] | None:
        found = self._check_polarity(facts, pairs)
        if found is not None and found[0] == "flipped" and not self._flip_is_specific(facts, found[2]):
            return None
        return found

    def _flipped(self, facts: _ClaimFacts, item: Evidence, seg: Segment) -> _Outcome:
        said = "denies" if facts.negated else "asserts"
        reason = f"the claim {said} what the knowledge base states the opposite of"
        return self._contradicted(facts.claim, item, seg, reason, "polarity")

    # -- kb_scope="open": a contradiction needs a passage about the same subject ---------------

    def _distinctive(self, term: str) -> bool:
        """True when few passages hold ``term`` (a name, a title), unlike "released" or "film"."""
        frequency = getattr(self.index, "document_frequency", None)
        if not callable(frequency):
            return True  # an index that cannot tell: every shared term counts, as in "closed"
        size = len(self.index) if isinstance(self.index, Sized) else 0
        return 0 < int(frequency(term)) <= max(_DISTINCTIVE_MIN_PASSAGES, _DISTINCTIVE_SHARE * size)

    def _anchored(self, facts: _ClaimFacts, seg: Segment) -> bool:
        """Always True with ``kb_scope="closed"``; with "open", the clause (or its line) must share a
        distinctive term with the claim or the question, so that "It was released in 1993" is not
        contradicted by another film's release year."""
        if self.kb_scope == "closed":
            return True
        shared = (facts.terms | facts.question_terms) & (seg.line_words | seg.title_terms)
        distinctive = [term for term in shared if ":" not in term and self._distinctive(term)]
        # Two distinctive words, or one that is a name in the claim or the question: "a great film"
        # shares "great" with "The Great Dune Trilogy" by chance, "Zodiac" is the subject.
        return len(distinctive) >= 2 or any(term in facts.name_terms for term in distinctive)

    def _contradiction_holds(self, facts: _ClaimFacts, found: tuple[str, Evidence, Segment, list[Quantity]]) -> bool:
        """With ``kb_scope="open"``: anchored, and not merely a number the question itself states
        ("... took place June 16, 1992 -- what is his birth date?" / "January 27, 1948")."""
        if self.kb_scope == "closed":
            return True
        _, _, seg, values = found
        if values and all(any(is_same_value(v, q) for q in facts.question_quantities) for v in values):
            return False
        return self._names_the_subject(facts, seg)

    def _names_the_subject(self, facts: _ClaimFacts, seg: Segment) -> bool:
        """A number is contradicted (``kb_scope="open"``) only by a clause that itself -- not merely
        its line -- names the claim's or the question's subject: a whole name of theirs with a
        distinctive word in it ("Throne of Glass was released 2012"), or two distinctive shared
        words. "City of Glass was released 2009" says nothing about "The Mortal Instruments", nor
        "We Are Water" about "At the Water's Edge"."""
        words = seg.words | seg.title_terms
        shared = (facts.terms | facts.question_terms) & words
        distinctive = {term for term in shared if ":" not in term and self._distinctive(term)}
        if len(distinctive) >= 2:
            return True
        return any(phrase <= words and phrase & distinctive for phrase in facts.name_phrases)

    def _flip_is_specific(self, facts: _ClaimFacts, seg: Segment) -> bool:
        """With ``kb_scope="open"``, a polarity flip counts only when the negation governs words the
        other side states ("not about the real zodiac killer" does not deny "Zodiac is a crime film")
        and the two are about the same subject."""
        if self.kb_scope == "closed":
            return True
        negated, other = (facts.claim.text, seg.words) if facts.negated else (seg.text, facts.terms)
        scope = content_terms(negated_words(negated)) - DAY_WORDS
        # What the negation governs must be stated on the other side: two of its words (or all, if fewer),
        heads = content_terms(" ".join(negated_heads(negated)))
        needed = min(_MIN_NEGATED_SHARED, len(scope))
        # and the very word it denies must be one of them: "no more recommendations for Dan Brown"
        # says nothing against "Digital Fortress is written by Dan Brown".
        if heads and not heads & other:
            return False
        return bool(scope) and len(scope & other) >= needed and self._anchored(facts, seg)

    @staticmethod
    def _coverage(facts: _ClaimFacts, pairs: list[tuple[Evidence, Segment]]) -> float:
        """Share of the claim's terms found in its best evidence line (a weak signal for the score)."""
        terms = facts.terms
        if not terms or not pairs:
            return 0.0
        if _has_tokens(terms):
            return max(len(terms & (seg.terms | seg.context_terms | seg.title_terms)) for _, seg in pairs) / len(terms)
        return max(len(terms & (seg.line_words | seg.title_terms)) for _, seg in pairs) / len(terms)

    def _unknown_entities(self, facts: _ClaimFacts, question: str | None, evidence: list[Evidence]) -> list[str]:
        if facts.negated:
            return []  # "we don't sell the iPhone" is not an invention
        asked = question.lower() if question else ""
        texts = [item.text for item in evidence]
        unknown: list[str] = []
        for token, _, _ in entity_candidates(facts.claim.text):
            if token.lower() in asked or token in unknown:
                continue
            if not self._vocabulary.contains(token, seen_texts=texts):
                unknown.append(token)
        return unknown

    @staticmethod
    def _quote(item: Evidence, seg: Segment) -> Evidence:
        return Evidence(
            passage_id=item.passage_id,
            doc=item.doc,
            start=item.start + seg.start,
            end=item.start + seg.end,
            text=seg.text,
            score=item.score,
            quote=seg.text,
        )

    def _contradicted(self, claim: Claim, item: Evidence, seg: Segment, reason: str, kind: str) -> _Outcome:
        quote = self._quote(item, seg)
        verdict = ClaimVerdict(claim, "contradicted", "deterministic", (quote,), reason)
        return _Outcome(verdict, _SCORE_CONTRADICTED[kind], decisive=[quote], on_topic=True)

    # -- tier 2 and the answer ----------------------------------------------------------

    def _verify(self, outcome: _Outcome, warnings: list[str]) -> _Outcome:
        assert self.verifier is not None
        if outcome.verdict.verdict != "unverifiable" and not self.always_verify:
            return outcome
        claim = outcome.verdict.claim
        evidence = outcome.verdict.evidence or tuple(self.index.search(claim.text, k=self.k))
        try:
            verdict = self.verifier.verify(claim, evidence)
        except LlmmonError as exc:
            warnings.append(f"the verifier failed on claim {claim.text[:60]!r}: {exc}")
            logger.warning("claim verifier failed: %s", exc)
            return outcome
        if verdict.verdict == "contradicted":
            score = _SCORE_CONTRADICTED["llm"]
        elif verdict.verdict == "supported":
            score = 0.05
        else:
            score = min(outcome.score, _SCORE_UNVERIFIABLE_MAX)
        decisive = list(verdict.evidence) if verdict.verdict == "contradicted" else []
        return _Outcome(verdict, score, asserted=False, decisive=decisive, on_topic=outcome.on_topic or bool(decisive))

    def _answer_verdict(self, outcomes: list[_Outcome], *, kb_empty: bool) -> tuple[AnswerVerdict, float]:
        if kb_empty:
            return "unverifiable", 0.0
        score = max(o.score for o in outcomes)
        if any(o.verdict.verdict == "contradicted" for o in outcomes):
            return "hallucinated", score
        if any(o.asserted for o in outcomes):
            if self.unsupported_is_hallucination:
                return "hallucinated", score
            return "unverifiable", max(
                o.lenient_score if o.asserted else min(o.score, _SCORE_UNVERIFIABLE_MAX) for o in outcomes
            )
        if all(o.verdict.verdict == "supported" for o in outcomes):
            return "supported", score
        return "unverifiable", min(score, _SCORE_UNVERIFIABLE_MAX)
