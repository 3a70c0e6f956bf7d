"""The BM25 tokeniser: English words (lowercased, stop words dropped, Snowball-stemmed) and
character bigrams for Hangul and CJK runs.

Korean attaches particles to the word they mark (한국은 / 한국의 / 한국에서), so whole-word
tokens almost never match across sentences. Overlapping character bigrams of every Hangul run
(한국의 -> 한국, 국의) make "한국" match whatever particle follows it, with no dictionary or
morphological analyser. A one-syllable run is kept as a unigram. Mixed text such as
"GDP는" yields the English word ``gdp`` and the particle ``는`` (which, being in nearly every
Korean passage, weighs almost nothing under BM25's IDF).

    >>> tokenize("2024년 한국의 명목 GDP는")
    ['2024', '년', '한국', '국의', '명목', 'gdp', '는']
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

__all__ = ["tokenize"]

# Hangul syllables, Jamo and compatibility Jamo.
_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
# Hiragana, katakana and CJK ideographs: no spaces between words either, so bigrams too.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_TOKEN_RE = re.compile(
    rf"(?P<hangul>[{_HANGUL}]+)"
    rf"|(?P<cjk>[{_CJK}]+)"
    r"|(?P<number>\d+(?:[.,:]\d+)*)"
    rf"|(?P<word>[^\W\d_{_HANGUL}{_CJK}]+)"
)
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+")
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # PyStemmer is fast, but a passage repeats its words; the cache halves indexing time.
    stemmed: str = _stemmer.stemWord(word)
    return stemmed


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text: str) -> list[str]:
    """Split ``text`` into BM25 terms (order kept, duplicates kept)."""
    # NFKC folds full-width letters and digits and composes decomposed (NFD) Hangul; ASCII is unchanged by it.
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    tokens: list[str] = []
    # findall over four alternatives is ~30% faster than finditer + lastgroup (index build time).
    for hangul, cjk, number, word in _TOKEN_RE.findall(text.lower()):
        if word:
            if word not in _STOPWORDS:
                tokens.append(_stem(word))
        elif number:
            # "1,700" and "1700" are the same number; "1.7" and "10:30" keep their separator.
            tokens.append(number.replace(",", "") if _THOUSANDS_RE.fullmatch(number) else number)
        else:
            tokens.extend(_bigrams(hangul or cjk))
    return tokens
