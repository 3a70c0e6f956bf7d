"""How the simulated model reads its prompt: pick the context sentences that answer a question, or decline.

Deterministic heuristics that stand in for a model's reading comprehension (see ``responder.py``):

* Candidates are the context sentences and pairs of neighbouring sentences (so "Express delivery:
  next business day. Costs $15." is one answer). A candidate scores by the question terms it
  shares, rare terms counting more, shorter and better-retrieved candidates winning ties. The
  section heading counts too ("missed deliveries" answers "What if I miss a delivery?").
* A question about a weekday is answered by a sentence about that weekday, the most specific
  first (the table row "Monday: 10:00 AM – 8:00 PM." beats "Monday to Friday ..."). A price
  question wants an amount; an opening-hours question wants a time of day.
* It declines when the context does not cover the question: fewer than half of the question's
  content terms occur in the context (the weather, a restaurant tip), or the question names a
  model the context never mentions (a "Lumen X2" that the store does not sell).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from examples.support_bot.kb import terms

__all__ = ["Reading", "read"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=다\.)\s*|(?<=요\.)\s*")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_MONEY = re.compile(r"\$\d|\d원")
_TIME_OF_DAY = re.compile(r"\d{1,2}(?::\d\d)?\s*(?:AM|PM)\b|(?:오전|오후)\s*\d{1,2}시", re.IGNORECASE)
_CLOSED = re.compile(r"\bclosed\b|휴무", re.IGNORECASE)
_HOLIDAY = re.compile(r"holiday|chuseok|seollal|new year|공휴일|추석|설날|신정", re.IGNORECASE)
_PLACE_QUESTION = re.compile(r"\bwhere\b|\baddress\b|어디|위치|주소", re.IGNORECASE)
_ADDRESS = re.compile(r"-ro\b|\bstation\b|\bexit \d|로 \d+|\d+번 출구")
_ANAPHORA = re.compile(r"(?:It|They|This|These|That)\b")
_TOOL_SOURCE = "orders"
_MODEL_NAME = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]{2,}\b")
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "월요일": 0, "화요일": 1, "수요일": 2, "목요일": 3, "금요일": 4, "토요일": 5, "일요일": 6,
}  # fmt: skip
_WEEKDAY = re.compile("|".join(_WEEKDAYS), re.IGNORECASE)
_PRICE_QUESTION = re.compile(r"\bhow much\b|\bcosts?\b|\bprices?\b|\bfees?\b|\bcharge|가격|비용|요금|수수료|얼마예요")
_KO_HOW_MUCH = re.compile(r"얼마")
_KO_DURATION = re.compile(r"기간|며칠|얼마나|오래")
_DURATION_QUESTION = re.compile(r"\bhow long\b|\bhow many days\b|기간|며칠|얼마나|오래")
_DURATION = re.compile(r"\b(?:days?|weeks?|months?|years?|hours?)\b|\d+\s*(?:일|년|개월|시간)|\d+~\d+일", re.IGNORECASE)
_HOURS_QUESTION = re.compile(
    r"\bwhen\b|\bwhat time\b|\bhours\b|\bopen\b|\bclose|몇\s*시|언제|시간|문을|여나요|닫",
    re.IGNORECASE,
)
# Words that say what kind of question it is, not what it is about: they do not count as coverage.
_GENERIC = frozenset(
    {
        "where", "when", "why", "how", "long", "time", "will", "would", "could", "should", "please", "tell", "me",
        "about", "have", "has", "get", "need", "want", "know", "any", "if", "so", "since", "right", "also",
        "just", "s", "t", "am", "was", "were", "did", "not", "no", "yes", "still", "then", "after", "before",
        "us", "they", "them", "their", "than", "more", "much", "many", "way", "ok", "hi", "hello", "take",
        "나요", "되나", "인가", "가요", "얼마", "어떻", "떻게", "습니", "니까", "있나", "있어", "어요", "해요",
        "세요", "주세", "려주", "알려", "마인", "마예", "마나", "예요", "이에", "에요", "까요", "할까", "하나",
    }
)  # fmt: skip
_MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Reading:
    """What the simulated model makes of a question: the answering text, or why it declines."""

    answer: str | None
    unknown: str | None = None  # the model name the context never mentions, when that is why it declines


@dataclass(frozen=True)
class _Candidate:
    rank: int  # retrieval rank of the passage
    text: str
    words: frozenset[str]
    heading: frozenset[str]
    before: str | None  # the previous sentence of the same passage
    after: str | None  # the next sentence of the same passage


def _stem(term: str) -> str:
    """A crude stem so "opened"/"open", "closed"/"closes"/"close", "missed"/"miss" meet."""
    if _HANGUL.match(term):
        return term
    for suffix in ("ing", "ly", "ed", "e"):
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            return term[: -len(suffix)]
    return term


def _terms(text: str) -> frozenset[str]:
    return frozenset(_stem(t) for t in terms(text))


def _weekdays(text: str) -> frozenset[int]:
    return frozenset(_WEEKDAYS[m.group(0).lower()] for m in _WEEKDAY.finditer(text))


def _is_price_question(question: str) -> bool:
    if _PRICE_QUESTION.search(question.lower()):
        return True
    return bool(_KO_HOW_MUCH.search(question)) and not _KO_DURATION.search(question)


def _candidates(passages: list[tuple[str, str]]) -> list[_Candidate]:
    result: list[_Candidate] = []
    for rank, (source, text) in enumerate(passages):
        heading = _terms(source.partition("#")[2])
        sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
        for index, sentence in enumerate(sentences):
            before = sentences[index - 1] if index > 0 else None
            after = sentences[index + 1] if index + 1 < len(sentences) else None
            result.append(_Candidate(rank, sentence, _terms(sentence), heading, before, after))
    return result


def _complete(candidate: _Candidate, *, wants_price: bool, wants_hours: bool) -> str:
    """The chosen sentence plus a neighbour it needs: "It also covers ..." needs its subject; "Express
    delivery: next business day." needs the "Costs $15." that follows when the question asks the price."""
    text = candidate.text
    if candidate.before is not None and _ANAPHORA.match(text):
        text = f"{candidate.before} {text}"
    after, before = candidate.after or "", candidate.before or ""
    if wants_price and not _MONEY.search(text) and _MONEY.search(after):
        text = f"{text} {after}"
    elif wants_hours and not _TIME_OF_DAY.search(text) and not _CLOSED.search(text):
        if _TIME_OF_DAY.search(after):
            text = f"{text} {after}"
        elif _TIME_OF_DAY.search(before):
            text = f"{before} {text}"
    return text


def _unknown_model(question: str, passages: list[tuple[str, str]]) -> str | None:
    """A model-like name in the question ("X2", "S24") that no passage mentions, with its brand words."""
    context = " ".join(text for _, text in passages).lower()
    for match in _MODEL_NAME.finditer(question):
        name = match.group(0).lower()
        if not re.search(rf"(?<![a-z\d]){re.escape(name)}(?![a-z\d])", context):
            brand = re.search(r"(?:(?:[A-Z][A-Za-z+]*|[\uac00-\ud7a3]+)\s+){0,2}$", question[: match.start()])
            return (brand.group(0) if brand else "") + match.group(0)
    return None


def _coverage(question: str, passages: list[tuple[str, str]]) -> float:
    content = {t for t in _terms(question) if t not in _GENERIC}
    if not content:
        return 1.0
    context: set[str] = set()
    for source, text in passages:
        context |= _terms(f"{source.partition('#')[2]} {text}")
    return len(content & context) / len(content)


def read(question: str, passages: list[tuple[str, str]]) -> Reading:
    """The sentence(s) of ``passages`` that answer ``question``, or a reason to decline."""
    unknown = _unknown_model(question, passages)
    if unknown is not None:
        return Reading(answer=None, unknown=unknown)
    if not passages or _coverage(question, passages) < _MIN_COVERAGE:
        return Reading(answer=None)
    wanted = {t for t in _terms(question) if t not in _GENERIC} or set(_terms(question))
    days = _weekdays(question)
    wants_price = _is_price_question(question)
    wants_duration = not wants_price and bool(_DURATION_QUESTION.search(question))
    wants_hours = not wants_price and not wants_duration and bool(_HOURS_QUESTION.search(question))
    models = {t for t in wanted if _MODEL_NAME.fullmatch(t)}
    holiday = bool(_HOLIDAY.search(question))
    wants_place = bool(_PLACE_QUESTION.search(question))
    for source, text in passages:
        if source == _TOOL_SOURCE:
            return Reading(answer=text)  # a tool result (the order service) answers the question itself
    candidates = _candidates(passages)
    # A question term that few candidate sentences share says more ("Sunday" beats "store").
    weight = {t: math.log(1 + len(candidates) / max(1, sum(t in c.words for c in candidates))) for t in wanted}
    total = sum(weight.values())
    average = sum(len(c.words) for c in candidates) / max(1, len(candidates))
    best: tuple[float, _Candidate] | None = None
    for candidate in candidates:
        shared = wanted & candidate.words
        if not shared:
            continue
        # The section heading says what every sentence under it is about (half as much as its own words).
        covered = sum(weight[t] for t in shared) + 0.5 * sum(weight[t] for t in (wanted & candidate.heading) - shared)
        brevity = 1 / (0.7 + 0.3 * len(candidate.words) / average)
        score = (covered / total) ** 2 * brevity / (1 + 0.25 * candidate.rank)
        named = {m.group(0).lower() for m in _MODEL_NAME.finditer(candidate.text)}
        if models and named and not models & named:
            score *= 0.2  # about other models: "Volt 20K ... six months" does not answer "Lumen X1 warranty?"
        score *= 2 ** len(models & candidate.words)  # "Lumen X1" questions want the sentence naming the X1
        if days:
            mentioned = _weekdays(candidate.text)
            if mentioned and not mentioned & days:
                continue  # about other days: a wrong answer, however many words it shares
            score *= 4 / len(mentioned) if mentioned else 0.3
        if wants_price:
            score *= 3 if _MONEY.search(candidate.text) or _MONEY.search(candidate.after or "") else 0.5
        elif wants_duration:
            score *= 0.5 if _MONEY.search(candidate.text) else 2 if _DURATION.search(candidate.text) else 0.5
        elif wants_hours:
            closed_day = (bool(days) or holiday) and _CLOSED.search(candidate.text) is not None
            score *= 3 if _TIME_OF_DAY.search(candidate.text) or closed_day else 1
        if wants_place:
            score *= 3 if _ADDRESS.search(candidate.text) else 1
        if best is None or score > best[0]:
            best = (score, candidate)
    if best is None:
        return Reading(answer=None)
    return Reading(answer=_complete(best[1], wants_price=wants_price, wants_hours=wants_hours))
