"""The BM25 tokeniser: Korean particles must not break matching; English is stemmed."""

from __future__ import annotations

import unicodedata

from llmmon.knowledge.tokenize import tokenize


def test_tokenize_hangul_bigrams_match_across_particles() -> None:
    with_topic = set(tokenize("한국은"))
    with_genitive = set(tokenize("한국의"))
    with_locative = set(tokenize("한국에서"))
    assert "한국" in with_topic & with_genitive & with_locative


def test_tokenize_single_syllable_run_is_kept() -> None:
    assert tokenize("2024년") == ["2024", "년"]


def test_tokenize_mixed_korean_english_splits_script_boundaries() -> None:
    assert tokenize("GDP는 약 1.7조 달러") == ["gdp", "는", "약", "1.7", "조", "달러"]


def test_tokenize_english_lowercases_stems_and_drops_stop_words() -> None:
    assert tokenize("The store OPENS on Sundays") == ["store", "open", "sunday"]


def test_tokenize_thousands_separator_is_normalised_but_decimals_kept() -> None:
    assert tokenize("949,000원 and 1.7") == ["949000", "원", "1.7"]


def test_tokenize_decomposed_hangul_is_composed_first() -> None:
    assert tokenize(unicodedata.normalize("NFD", "한국")) == ["한국"]


def test_tokenize_cjk_ideographs_use_bigrams() -> None:
    assert tokenize("東京都") == ["東京", "京都"]


def test_tokenize_punctuation_only_gives_no_terms() -> None:
    assert tokenize(" ... !? — ") == []
