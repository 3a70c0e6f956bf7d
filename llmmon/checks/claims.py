"""Split an answer into atomic checkable claims, each with its character span in the answer.

Claims are sentences, cut further at clause boundaries that join two statements ("; ",
", but ", "하지만", "...며, "). Greetings, thanks, offers of help, apologies and questions back
to the user are not claims, and neither are markdown headings or fragments without a single
topic word. A hard-wrapped line break inside a sentence does not end it (see :func:`unwrap`).

Usage::

    >>> [c.text for c in split_claims("Hi! The store opens at 10 AM. Anything else?")]
    ['The store opens at 10 AM.']
"""

from __future__ import annotations

import itertools
import re

from llmmon.checks.terms import content_terms
from llmmon.checks.verdicts import Claim

__all__ = ["is_claim", "sentence_spans", "split_claims", "unwrap"]

# A sentence ends at . ! ? (or their full-width forms) followed by space, or at a line break.
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|mr|mrs|ms|dr|st|no|approx|inc|ltd|co|jr|sr|u\.s|a\.m|p\.m|fig|dept|est)"
    r"|\b[A-Z])$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"')\]]*(?=\s|$)|\n+")
_BULLET = re.compile(r"\s*(?:[-*•·]|\d{1,2}[.)]|#{1,6})\s+")
_HEADING = re.compile(r"[ \t]*#{1,6}\s")
# A line that starts a block of its own: blank, heading, bullet, numbered item, table row, quote.
_BLOCK_START = re.compile(r"[ \t]*(?:[|#>*•·-]|\d+[.)]\s|$)")
_SENTENCE_FINAL = re.compile(r"[.!?。！？:;…]['\")\]*_`]*\s*$")
_CONTINUATION = re.compile(r"[ \t]*[a-z0-9(가-힣]")
# Hard-wrapped prose fills its lines; a list of short lines ("Monday 10 AM" / "Tuesday 10 AM") is a list.
_MIN_WRAPPED_LINE = 40
_MARKUP = re.compile(r"\*\*|__|`")
_CLAUSE_BREAK = re.compile(
    r";\s+|,\s+(?=(?:but|while|whereas|although|though|however)\b)|\s+(?=(?:but|however)\s*,)"
    r"|(?<=[며고나만데서])\s*,\s+(?=[가-힣])|(?<=지만)\s+|\s+(?=(?:하지만|그러나|반면|다만)\s)",
    re.IGNORECASE,
)
_LEADING_FILLER = re.compile(
    r"(?:(?:yes|yeah|no|sure|of course|certainly|absolutely|great question|good question|okay|ok|well|"
    r"actually|thanks for asking|thank you for asking|네|예|아니요|아뇨|물론입니다|물론이죠|"
    r"좋은 질문입니다)\s*[,!.:—-]\s*)+",
    re.IGNORECASE,
)
_NOT_A_CLAIM = re.compile(
    r"^(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening|day)|welcome|thanks?|thank you|"
    r"you'?re welcome|my pleasure|sure|of course|certainly|absolutely|great question|good question|"
    r"(?:i'?m |i am |we'?re |we are )?(?:happy|glad|here) to help|i'?d be (?:happy|glad)|i hope|"
    r"hope (?:this|that)|let me know|let us know|feel free|"
    r"please (?:let|feel|don'?t hesitate|contact|reach|ask)|"
    r"don'?t hesitate|if you (?:have|need|want|would like)|is there anything|anything else|"
    r"have a (?:great|nice|good|wonderful)|enjoy|(?:i'?m |we'?re |i am |we are )?sorry|i apologi[sz]e|"
    r"we apologi[sz]e|best regards|kind regards|cheers|"
    r"안녕하세요|안녕하십니까|감사합니다|고맙습니다|감사드립니다|문의(?:해)? 주셔서|도움이 (?:되|필요)|"
    r"궁금하신 (?:점|사항)|더 궁금|언제든(?:지)?|좋은 하루|즐거운 하루|죄송합니다|불편을 드려|문의 사항|"
    r"추가로 (?:궁금|문의|도움)|기타 문의)",
    re.IGNORECASE,
)
_OFFER_INSIDE = re.compile(
    r"(?:let (?:me|us) know if|feel free to|don'?t hesitate to|happy to help|hope (?:this|that) helps|"
    r"문의해 주세요|문의 주세요|말씀해 주세요|도와드리겠습니다|도와드릴게요|도움이 되었으면|도움이 되셨)",
    re.IGNORECASE,
)


def unwrap(text: str) -> str:
    """``text`` with hard-wrapped line breaks turned into spaces (same length: offsets still hold).

    A break is soft when the line before it is long, does not end a sentence, and the next line
    continues it (starts lower-case, with a digit or in Hangul), and neither line is a heading,
    bullet, table row or blank. Such a break inside "... on the\nthree days of Chuseok." must not
    make "three days of Chuseok." a claim of its own.
    """
    if "\n" not in text:
        return text
    lines = text.split("\n")
    out = [lines[0]]
    for previous, line in itertools.pairwise(lines):
        soft = (
            len(previous.strip()) >= _MIN_WRAPPED_LINE
            and not _SENTENCE_FINAL.search(previous)
            and not _BLOCK_START.match(previous)
            and not _BLOCK_START.match(line)
            and bool(_CONTINUATION.match(line))
        )
        out.append((" " if soft else "\n") + line)
    return "".join(out)


def _is_heading(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    return bool(_HEADING.match(text, line_start))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line in ``text``, without surrounding space."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group(0)[0] == "." and _ABBREVIATIONS.search(text[max(start, match.start() - 6) : match.start()]):
            continue
        end = match.end() if match.group(0)[0] != "\n" else match.start()
        spans.append((start, end))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))[0] < trimmed[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    return start, end


def _clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _CLAUSE_BREAK.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [_trim(text, a, b) for a, b in spans]


def is_claim(sentence: str) -> bool:
    """False for greetings, thanks, offers of help, apologies, questions and contentless fragments."""
    body = _MARKUP.sub("", sentence).strip()
    if not body or body.rstrip(" \"')").endswith(("?", "？")):
        return False
    if _NOT_A_CLAIM.match(body) or _OFFER_INSIDE.search(body):
        return False
    return bool(content_terms(body))


def split_claims(answer: str) -> list[Claim]:
    """The checkable claims of ``answer``, in order, with offsets into ``answer``.

    A claim's text is ``answer[start:end]`` with any soft line break inside it as a space.
    """
    claims: list[Claim] = []
    text = unwrap(answer)
    for sent_start, sent_end in sentence_spans(text):
        if _is_heading(text, sent_start):
            continue  # "## Items that cannot be returned" labels what follows; it states nothing
        for start, end in _clause_spans(text, sent_start, sent_end):
            filler = _LEADING_FILLER.match(text, start, end)
            if filler and filler.end() < end:
                start = filler.end()
            claim = text[start:end]
            if start < end and is_claim(claim):
                claims.append(Claim(text=claim, start=start, end=end))
    return claims
