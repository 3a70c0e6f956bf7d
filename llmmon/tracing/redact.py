"""PII redaction applied by the writer thread before anything is stored.

Cheap checks pick the patterns worth running, then a regex masks email
addresses, phone numbers (Korean formats such as 010-1234-5678 and +82 10-..., and
international ones), card numbers (kept only when the Luhn checksum holds), Korean
resident registration numbers, and API keys / bearer tokens / JWTs. Emails are only
searched in text containing ``@``, secrets only where a key prefix occurs, and the
numeric patterns (one combined regex) only inside runs of digits and separators. That
keeps redaction to a few microseconds per span, so the writer sustains tens of thousands
of spans per second.

Hook: ``llmmon.configure(redactor=Redactor(extra_patterns={"EMPLOYEE": r"EMP-\\d{6}"}))``
adds patterns; any ``str -> str`` callable replaces the function entirely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["DEFAULT_PATTERNS", "Redactor", "is_luhn_valid", "redact"]

# Label -> pattern. Order matters: at one position the first alternative that matches wins.
DEFAULT_PATTERNS: dict[str, str] = {
    "EMAIL": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "SECRET": (
        r"(?:Bearer|bearer|BEARER)\s+[A-Za-z0-9._~+/=-]{8,}"
        r"|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
        r"|\b[sprk]k_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bAIza[0-9A-Za-z_-]{35}"
        r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ),
    # YYMMDD-GNNNNNN; the 7th digit (1-8) encodes century and sex.
    "RRN": r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[- ]?[1-8]\d{6}(?!\d)",
    "CARD": r"(?<![\d-])\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?![\d-])",
    "PHONE": (
        r"(?<![\w+])(?:\+82[ -]?(?:0?1[016789]|0?[2-6]\d?)[ -]?\d{3,4}[ -]?\d{4}"
        r"|01[016789][ -]?\d{3,4}[ -]?\d{4}"
        r"|0(?:2|[3-6][1-5])[ -]\d{3,4}[ -]\d{4}"
        r"|\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,4}"
        r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?!\d)"
    ),
}

# Substrings that every SECRET match contains; ``in`` checks are far cheaper than a regex scan.
# Every SECRET match contains one of "earer", "EARER", "sk-", "xox", "AKIA", "AIza", "eyJ"
# (see _has_secret_hint) or, only looked for in text that has a "_", one of these:
_UNDERSCORE_HINTS = ("k_live_", "k_test_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")
# A run of digits with separators: the only places a phone, card or RRN can be.
_DIGIT_RUN = re.compile(r"[+(0-9][0-9 \-().]{6,}[0-9]")
_NUMERIC_LABELS = ("RRN", "CARD", "PHONE")


def _has_secret_hint(text: str) -> bool:
    # Spelled out rather than any(genexpr): this runs twice per span in the writer. A hint
    # with a rare character is looked for only where that character occurs: a one-character
    # ``in`` is a memchr, ~20x cheaper than a substring search over the same text.
    return (
        "earer" in text
        or ("R" in text and "EARER" in text)
        or "sk-" in text
        or ("x" in text and "xox" in text)
        or ("K" in text and "AKIA" in text)
        or ("z" in text and "AIza" in text)
        or ("J" in text and "eyJ" in text)
        or ("_" in text and any(hint in text for hint in _UNDERSCORE_HINTS))
    )


def is_luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _combine(patterns: Mapping[str, str], *, flags: int = 0) -> tuple[re.Pattern[str], dict[str, str]]:
    group_label = {f"g{i}": label for i, label in enumerate(patterns)}
    regex = re.compile("|".join(f"(?P<g{i}>{pattern})" for i, pattern in enumerate(patterns.values())), flags)
    return regex, group_label


class Redactor:
    """Masks PII as ``[LABEL]``; callable as ``redactor(text) -> text``.

    ``extra_patterns`` (label -> regex) are masked in addition to the built-in ones;
    ``patterns`` replaces the built-in set.
    """

    def __init__(
        self,
        *,
        extra_patterns: Mapping[str, str] | None = None,
        patterns: Mapping[str, str] | None = None,
    ) -> None:
        self._builtin = patterns is None
        if self._builtin:
            self._email = re.compile(DEFAULT_PATTERNS["EMAIL"])
            self._secret = re.compile(DEFAULT_PATTERNS["SECRET"])
            self._numeric, self._numeric_labels = _combine(
                {k: DEFAULT_PATTERNS[k] for k in _NUMERIC_LABELS}, flags=re.ASCII
            )
        self._custom: tuple[re.Pattern[str], dict[str, str]] | None = None
        custom = dict(extra_patterns or {}) if self._builtin else dict(patterns or {})
        if custom:
            self._custom = _combine(custom)

    @staticmethod
    def _label(match: re.Match[str], group_label: dict[str, str]) -> str:
        label = group_label[match.lastgroup or ""]
        if label == "CARD":
            digits = re.sub(r"\D", "", match.group())
            if not (13 <= len(digits) <= 19 and is_luhn_valid(digits)):
                return match.group()
        return f"[{label}]"

    def _numeric_run(self, run: re.Match[str]) -> str:
        labels = self._numeric_labels
        return self._numeric.sub(lambda m: self._label(m, labels), run.group())

    def __call__(self, text: str) -> str:
        if self._custom is not None:
            regex, labels = self._custom
            text = regex.sub(lambda m: self._label(m, labels), text)
        if not self._builtin:
            return text
        if "@" in text:
            text = self._email.sub("[EMAIL]", text)
        if _has_secret_hint(text):
            text = self._secret.sub("[SECRET]", text)
        return _DIGIT_RUN.sub(self._numeric_run, text)


_DEFAULT = Redactor()


def redact(text: str) -> str:
    """Mask PII in ``text`` with the default patterns."""
    return _DEFAULT(text)
