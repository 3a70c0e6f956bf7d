"""Whether a sentence asserts or denies: "closed on Sundays" vs "open on Sundays", "do not offer" vs "offer".

Polarity is the parity of negation cues (English "not", "no", "never", "n't", "closed",
"unavailable"...; Korean 안/않/없/못/불가/휴무...), after dropping a leading "No," or "아니요," that
only answers the user's question. Two negations cancel ("not closed" = open).

Not cues: first-person hedges ("I'm not sure", "I don't know", "I've never heard of") -- they
say something about the speaker, not about the world -- and a capitalised cue inside a sentence,
which is part of a title ("She starred in Can't Buy Me Love").
"""

from __future__ import annotations

import re

from llmmon.checks.terms import content_terms

__all__ = ["is_negated", "negated_heads", "negated_words", "negation_cues"]

_LEADING_ANSWER = re.compile(
    r"^\s*(?:(?:oh|ah|well)\s*,?\s*)?(?:(?:no|nope|yes|yeah|아니요|아뇨|네|예)\s*[,.!]\s*"
    r"|(?:no|nope)\s+(?=(?:it|it's|that|this|he|she|they|i|we|you|the|in|on|at|for|but|not|there|his|her|their)\b))",
    re.IGNORECASE,
)
# "No Tom Arnold is in ...": an answer word before a name that is the subject of a verb, not "no X".
# Case-sensitive on purpose: only a capitalised run followed by a verb ("No Sunday deliveries" stays).
_NO_BEFORE_NAME = re.compile(
    r"^\s*(?:[Nn]o|[Nn]ope)\s+(?=(?:[A-Z][\w'’.-]*\s+)+(?:is|was|are|were|has|had|did|does|starred|stars|"
    r"wrote|writes|played|plays|directed|sang|made|won)\b)"
)
_EN_CUES = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|nor|neither|cannot|closed|unavailable|without|"
    r"non-refundable|nonrefundable|unable|prohibited|forbidden|excluded|except)\b|n't\b",
    re.IGNORECASE,
)
_KO_CUES = re.compile(r"(?<![가-힣])안\s|(?<![가-힣])못\s|않|없|불가|휴무|휴점|휴업|쉽니다|아닙니다|아니|금지|제외")
# "no later than", "not only", "no matter": negation words that do not deny the claim.
_NOT_NEGATION = re.compile(
    r"\b(?:no later than|not only|no matter|no more than|not just|no less than|not bad|no doubt)\b", re.IGNORECASE
)


# Tokenised text ("don ' t", "i ' m") is joined back before anything else.
_SPLIT_APOSTROPHE = re.compile(r"(?<=\w) ?' ?(?=(?:t|m|s|re|ve|ll|d)\b)", re.IGNORECASE)
_HEDGE = re.compile(
    r"\b(?:i|we)(?:'m| am|'re| are)? (?:really |actually |just )?(?:not|never) (?:sure|certain|aware)\b"
    r"|\bnot (?:(?:for|so|too|that|quite|really|entirely|completely) )?(?:sure|certain)\b"
    # An elliptical first-person answer ("I have not, but I heard ...", "I haven't.") says what the
    # speaker did, not what the world is: its clause ends there.
    r"|\b(?:i|we) (?:have not|haven't|had not|hadn't|did not|didn't|do not|don't|am not|'m not|have never)"
    r"(?= *(?:[,.;!?]|$|but\b|yet\b|though\b|however\b|\w+ly\b *(?:[,.;!?]|$|but\b)))"
    r"|\b(?:i'm|we're) not(?= *(?:[,.;!?]|$|but\b))"
    # Korean: "잘 모르겠지만", "확실하지 않지만", "기억이 나지 않는데" hedge, they do not deny.
    r"|(?:잘\s*)?모르겠|확실(?:하지|치)\s*않|기억(?:이|나지|이 나지)\s*(?:않|안\s*나)"
    r"|\b(?:i|we) (?:really |actually |just )?(?:don't|do not|didn't|did not|can't|cannot|could not|couldn't) "
    r"(?:really |actually )?(?:know|remember|recall|say|tell|think|believe|guess)\b"
    r"|\b(?:i|we)(?:'ve| have)? (?:not|never) (?:heard|seen|read|watched|been|known|tried|guessed)\b"
    r"|\b(?:i|we)(?:'d| would)(?: have)? never (?:have )?(?:guessed|thought|known)\b"
    r"|\b(?:i|we) (?:haven't|hadn't|have not|had not) (?:heard|seen|read|watched|been|known|tried)\b",
    re.IGNORECASE,
)
_SCOPE_WORDS = 6
_SCOPE_SPLIT = re.compile(r"[\s,;]+")
_SENTENCE_STOP = re.compile(r"[.!?;:()\[\]\"]")
# A negation governs its own clause: "I have not seen it, but X is a classic" -- the scope ends at
# a comma or a contrast word.
_CLAUSE_STOP = re.compile(r"[.!?;:,()\[\]\"]|\s(?:but|however|though|although|yet|whereas|while)\b", re.IGNORECASE)


def _body(text: str) -> str:
    """``text`` without what is not a negation: a leading answer word, hedges, idioms."""
    body = _SPLIT_APOSTROPHE.sub("'", text).replace("’", "'")
    body = _LEADING_ANSWER.sub("", body)
    body = _NO_BEFORE_NAME.sub("", body)
    body = _HEDGE.sub(" ", body)
    return _NOT_NEGATION.sub(" ", body)


def _is_title_word(body: str, match: re.Match[str]) -> bool:
    """A capitalised cue that does not start a sentence belongs to a name ("Can't Buy Me Love")."""
    word_start = match.start()
    while word_start > 0 and (body[word_start - 1].isalpha() or body[word_start - 1] == "'"):
        word_start -= 1
    if not body[word_start : word_start + 1].isupper():
        return False
    before = body[:word_start].rstrip()
    return bool(before) and before[-1] not in '.!?:;"(-'


def _en_cues(body: str) -> list[re.Match[str]]:
    return [m for m in _EN_CUES.finditer(body) if not _is_title_word(body, m)]


def negation_cues(text: str) -> list[str]:
    """The negation cues found in ``text`` (for explaining a polarity verdict)."""
    body = _body(text)
    return [m.group(0).strip() for m in _en_cues(body)] + [m.group(0).strip() for m in _KO_CUES.finditer(body)]


def negated_words(text: str) -> str:
    """The words the negation cues govern, cue included ("closed" is about "open"): up to six words
    after an English cue within its clause (it ends at a comma, "but", "though" ...), the two words
    before a Korean one (Korean negates the verb it follows). Empty when ``text`` has no cue."""
    body = _body(text)
    parts = [
        " ".join(_SCOPE_SPLIT.split(_CLAUSE_STOP.split(body[m.start() :], maxsplit=1)[0].strip())[: _SCOPE_WORDS + 1])
        for m in _en_cues(body)
    ]
    parts += [" ".join(_SENTENCE_STOP.split(body[: m.end()])[-1].split()[-3:]) for m in _KO_CUES.finditer(body)]
    return " ".join(parts)


# Only determiners: "no X" denies that X exists, so X itself must be stated on the other side; the
# verb after "not" is often paraphrased there ("did not write" / "is written by").
_DETERMINER_CUES = frozenset(["no", "none", "without"])
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
# Quantifiers between the cue and the word it denies ("no more books", "not any longer").
_QUANTIFIERS = frozenset(["more", "longer", "further", "other", "any", "such", "much", "many", "really", "even"])


def negated_heads(text: str) -> list[str]:
    """For each English determiner cue ("no", "none", "without"), the first word it denies within
    its clause ("There are no more recommendations for Dan Brown" -> "recommendations"). A fact is
    denied only if the other side states that word."""
    body = _body(text)
    heads: list[str] = []
    for match in _en_cues(body):
        if match.group(0).strip().lower() not in _DETERMINER_CUES:
            continue
        clause = _CLAUSE_STOP.split(body[match.end() :], maxsplit=1)[0]
        for word in _WORD.findall(clause):
            if word.lower() not in _QUANTIFIERS and content_terms(word):
                heads.append(word)
                break
    return heads


def is_negated(text: str) -> bool:
    """True when ``text`` denies rather than asserts (odd number of negation cues)."""
    return len(negation_cues(text)) % 2 == 1
