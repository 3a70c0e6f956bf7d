"""kb_scope: "closed" (the KB is the authority: unbacked facts are hallucinations) vs "open" (only
contradictions with a passage about the same subject count), and the polarity cues both rely on."""

from __future__ import annotations

import pytest

from llmmon.checks.factcheck import FactChecker
from llmmon.checks.polarity import is_negated, negated_heads, negated_words
from llmmon.knowledge.index import KnowledgeIndex
from tests.checks.conftest import passages_index


@pytest.fixture(scope="module")
def films() -> KnowledgeIndex:
    texts = [
        "Zodiac is a crime fiction film. Zodiac is starring Jake Gyllenhaal and Robert Downey Jr.",
        "Zodiac was released in 2007.",
        "The Great Dune Trilogy is written by Frank Herbert. The Great Dune Trilogy was released 1977.",
        "Before I Fall was released 2010.",
        "World War Z was released 2006.",
        "The Last Days of Dogtown was released 2005.",
        "Iron Man was released in 2008. Iron Man is starring Robert Downey Jr.",
    ]
    return passages_index(*texts, name="films")


def test_open_scope_still_catches_a_contradiction_about_the_same_subject(films: KnowledgeIndex) -> None:
    result = FactChecker(films, kb_scope="open").check("Zodiac was released in 1999.")
    assert result.verdict == "hallucinated"
    assert result.claims[0].verdict == "contradicted"
    assert "2007" in result.claims[0].evidence[0].text
    assert FactChecker(films, kb_scope="open").check("Zodiac was released in 2007.").verdict == "supported"


@pytest.mark.parametrize(
    "answer",
    [
        "It was released in 1993.",
        "It's a great adventure film, released in 1999.",
        "The last one was released in 2016.",
    ],
)
def test_open_scope_needs_the_same_subject_before_a_number_contradicts(films: KnowledgeIndex, answer: str) -> None:
    # "released in" is shared with every film of the KB; which film "it" is, tier 1 cannot know.
    open_result = FactChecker(films, kb_scope="open").check(answer, question="When was it released?")
    assert open_result.verdict == "unverifiable"
    assert all(c.verdict != "contradicted" for c in open_result.claims)
    assert 0.4 <= open_result.score < 0.5  # an unbacked number still ranks above "nothing found"


def test_open_scope_reports_unknown_names_as_unverifiable_closed_as_hallucinated(films: KnowledgeIndex) -> None:
    answer = "Zodiac is starring Mark Ruffalo."
    closed = FactChecker(films).check(answer)
    assert closed.verdict == "hallucinated"
    assert "Ruffalo" in closed.claims[0].reason
    opened = FactChecker(films, kb_scope="open").check(answer)
    assert opened.verdict == "unverifiable"
    assert opened.claims[0].verdict == "unverifiable" and "Ruffalo" in opened.claims[0].reason
    assert 0.45 < opened.score < 0.5
    # the explicit override wins over the scope
    assert FactChecker(films, kb_scope="open", unsupported_is_hallucination=True).check(answer).hallucinated


def test_open_scope_ignores_a_number_the_question_itself_states() -> None:
    index = passages_index("The performance took place June 16, 1992, at the New York State Theater.")
    question = "What is the birth date of the man who gave the performance on June 16, 1992?"
    assert FactChecker(index, kb_scope="open").check("January 27, 1948", question=question).verdict != "hallucinated"
    assert FactChecker(index).check("January 27, 1948", question=question).verdict == "hallucinated"


def test_open_scope_polarity_flip_needs_the_negation_to_govern_shared_words(films: KnowledgeIndex) -> None:
    checker = FactChecker(films, kb_scope="open")
    off_scope = checker.check("Zodiac is a crime fiction film, so it is not about the real zodiac killer.")
    assert all(c.verdict != "contradicted" for c in off_scope.claims)
    denial = checker.check("Zodiac is not starring Jake Gyllenhaal.")
    assert denial.verdict == "hallucinated" and denial.claims[0].verdict == "contradicted"


def test_kb_scope_is_validated(films: KnowledgeIndex) -> None:
    with pytest.raises(ValueError, match="kb_scope"):
        FactChecker(films, kb_scope="wide")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("I'm not sure, but they were founded in Munich.", False),
        ("i ' m not sure but they were founded in munich , bavaria .", False),
        ("I don't know Raheem Morris.", False),
        ("I've never heard of that band.", False),
        ("She also starred in Can't Buy Me Love.", False),
        ("No it is the genre romance", False),
        ("No, we do not ship internationally.", True),
        ("The store is closed on Sundays.", True),
        ("Not open on Sundays.", True),
        ("we don ' t ship to canada .", True),
        ("매장은 일요일에 휴무입니다.", True),
    ],
)
def test_hedges_titles_and_answer_words_are_not_negations(text: str, negated: bool) -> None:
    assert is_negated(text) is negated


def test_negated_words_are_the_cue_and_what_follows_within_the_sentence() -> None:
    assert negated_words("The store is closed on Sundays.") == "closed on Sundays"
    assert negated_words("the pilot was not picked up.Brandon Tartikoff was president") == "not picked up"
    assert negated_words("The store opens at 10 AM.") == ""
    assert negated_words("일요일은 휴무입니다") == "일요일은 휴무"


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # first-person / hedging clauses say what the speaker did or knows, not what the world is
        ("I have not but I heard Wayside School is Falling Down is a classic.", False),
        ("I haven't, but Hitch is starring Will Smith.", False),
        ("I am not for sure but Marc John Jefferies also starred in Yelling to the Sky.", False),
        ("I'm not, but he is.", False),
        ("I have not seen it.", False),
        # sentence-initial interjections and answer words
        ("Oh no, it was The Pursuit of Happyness!", False),
        ("No Tom Arnold is in Undercover Blues and True Lies.", False),
        ("No in Brazil though, there are many football teams.", False),
        ("That's not bad, they also drafted Rudy Gay.", False),
        # ... but a real denial stays one
        ("No Sunday deliveries are made.", True),
        ("I have not read it because it is not in English.", True),
        ("Tom Arnold is not in True Lies.", True),
        # Korean hedges ("잘 모르겠지만", "확실하지 않지만") are not denials; the fact after them stands
        ("잘 모르겠지만 매장은 10시에 엽니다.", False),
        ("확실하지 않지만 그 영화는 2010년에 개봉했습니다.", False),
        ("매장은 일요일에 문을 열지 않습니다.", True),
    ],
)
def test_first_person_hedges_and_interjections_do_not_flip_a_fact(text: str, negated: bool) -> None:
    assert is_negated(text) is negated


def test_negation_scope_ends_at_its_clause() -> None:
    assert negated_words("We do not ship to Canada, but we ship to Mexico.") == "not ship to Canada"
    assert negated_words("It is not sold here though Zodiac is a film.") == "not sold here"


def test_a_determiner_negation_denies_its_head_word() -> None:
    assert negated_heads("There are no more recommendations for Dan Brown.") == ["recommendations"]
    assert negated_heads("Zodiac is not starring Jake Gyllenhaal.") == []  # "not": the verb may be paraphrased
    assert negated_heads("The store is closed on Sundays.") == []


def test_open_scope_no_flip_when_the_denied_word_is_not_stated(films: KnowledgeIndex) -> None:
    checker = FactChecker(films, kb_scope="open")
    answer = "There are no more recommendations for Jake Gyllenhaal."
    assert checker.check(answer, question="More films with Jake Gyllenhaal?").verdict != "hallucinated"
    assert checker.check("There is no crime fiction film called Zodiac.").verdict == "hallucinated"  # "crime" is stated


def test_open_scope_hedged_answer_is_not_a_denial(films: KnowledgeIndex) -> None:
    checker = FactChecker(films, kb_scope="open")
    assert checker.check("I have not but I heard Zodiac is starring Jake Gyllenhaal.").verdict != "hallucinated"
    assert checker.check("Oh no, Zodiac is starring Jake Gyllenhaal!").verdict != "hallucinated"


def test_open_scope_number_needs_the_clause_to_name_the_subject() -> None:
    index = passages_index(
        "Sarah J. Maas wrote Throne of Glass. Throne of Glass was released 2012.",
        "Cassandra Clare wrote The Mortal Instruments. City of Glass was released 2009.",
        "Wally Lamb wrote We Are Water. We Are Water was released 2013.",
        "Frank Herbert wrote The Great Dune Trilogy. The Great Dune Trilogy was released 1977.",
    )
    checker = FactChecker(index, kb_scope="open")
    # the clause with the year names another work of the same line: no contradiction
    question = "Did she write The Mortal Instruments? When did that come out?"
    assert checker.check("It was released in 2011.", question=question).verdict != "hallucinated"
    # one shared word of a longer title is not the title
    question = "She also wrote At the Water's Edge. Have you read it?"
    assert checker.check("I heard it was released in 2015.", question=question).verdict != "hallucinated"
    # "Great." alone is an interjection, not the name in "The Great Dune Trilogy"
    question = "Great. Tell me more about Marina please."
    assert checker.check("Marina was released in 1999.", question=question).verdict != "hallucinated"
    # the whole name in the clause with the year: still a contradiction
    result = checker.check("Throne of Glass was released in 2015.")
    assert result.verdict == "hallucinated" and "2012" in result.claims[0].reason
    question = "When was Throne of Glass released?"
    assert checker.check("It was released in 1995.", question=question).verdict == "hallucinated"
