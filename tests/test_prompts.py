"""The prompt registry: loading, rendering, span stamping, hash checks, locking, clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import llmmon
from llmmon.errors import PromptError
from llmmon.prompts import check_prompts, content_hash, load_prompt_file, lock_prompt_file, prompt
from llmmon.tracing.recorder import InMemoryRecorder

REPO_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"

GREETING = """\
# a comment that lock must keep
name: greet
description: Say hello.
versions:
  - version: v1
    messages:
      - role: system
        content: You greet people.
      - role: user
        content: "Hello {{ name }}"
  - version: v2
    model: gpt-4o-mini
    temperature: 0.2
    messages:
      - role: user
        content: |
          Hello {{ name }}, welcome to {{ place }}!
"""


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prompts"
    directory.mkdir()
    (directory / "greet.yaml").write_text(GREETING, encoding="utf-8")
    return directory


@pytest.fixture
def recorder() -> Iterator[InMemoryRecorder]:
    memory = InMemoryRecorder()
    llmmon.configure(recorder=memory)
    yield memory
    llmmon.shutdown()


def test_prompt_latest_and_named_version(prompts_dir: Path) -> None:
    latest = prompt("greet", prompts_dir=prompts_dir)
    assert (latest.name, latest.version, latest.model, latest.temperature) == (
        "greet",
        "v2",
        "gpt-4o-mini",
        0.2,
    )
    assert latest.variables == {"name", "place"}
    first = prompt("greet", "v1", prompts_dir=prompts_dir)
    assert first.render(name="Ada") == [
        {"role": "system", "content": "You greet people."},
        {"role": "user", "content": "Hello Ada"},
    ]
    assert first.hash != latest.hash and len(first.hash) == 16


def test_prompt_render_missing_variable_raises(prompts_dir: Path) -> None:
    greet = prompt("greet", prompts_dir=prompts_dir)
    with pytest.raises(PromptError, match=r"needs variable.*place"):
        greet.render(name="Ada")


def test_prompt_unknown_name_or_version_raises(prompts_dir: Path) -> None:
    with pytest.raises(PromptError, match="no prompt named 'nope'"):
        prompt("nope", prompts_dir=prompts_dir)
    with pytest.raises(PromptError, match=r"no version 'v9' \(known: v1, v2\)"):
        prompt("greet", "v9", prompts_dir=prompts_dir)


def test_prompt_render_stamps_current_span(prompts_dir: Path, recorder: InMemoryRecorder) -> None:
    greet = prompt("greet", prompts_dir=prompts_dir)

    @llmmon.trace(name="answer")
    def answer() -> str:
        return greet.render(name="Ada", place="Seoul")[0]["content"]

    assert answer() == "Hello Ada, welcome to Seoul!\n"
    [span] = recorder.by_name("answer")
    assert (span.prompt_name, span.prompt_version, span.prompt_hash) == ("greet", "v2", greet.hash)


def test_prompt_render_outside_a_span_still_works(prompts_dir: Path, recorder: InMemoryRecorder) -> None:
    assert prompt("greet", "v1", prompts_dir=prompts_dir).render(name="x")[1]["content"] == "Hello x"
    assert recorder.spans == []


def test_content_hash_ignores_version_and_hash_but_not_text() -> None:
    base = {"version": "v1", "messages": [{"role": "user", "content": "hi"}]}
    assert content_hash(base) == content_hash({**base, "version": "v7", "hash": "x"})
    assert content_hash(base) != content_hash({**base, "messages": [{"role": "user", "content": "hi!"}]})


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nversions:\n  - version: v1\n    messages: [unclosed\n", encoding="utf-8")
    with pytest.raises(PromptError) as caught:
        load_prompt_file(path)
    assert caught.value.path == path
    assert caught.value.line is not None and caught.value.line >= 4
    assert str(caught.value).startswith(f"{path}:{caught.value.line}: invalid YAML")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: x\nversions:\n  - version: v1\n    model: m\n", 3, "'messages' must be a non-empty list"),
        ("name: x\nversions:\n  - version: v1\n    messages:\n      - content: hi\n", 5, "needs a 'role'"),
        (
            "name: x\nversions:\n  - version: v1\n    colour: red\n    messages: []\n",
            4,
            "unknown key 'colour'",
        ),
        ("name: x\nversions: []\n", 2, "'versions' must be a non-empty list"),
        ("versions:\n  - version: v1\n", 1, "'name' must be a non-empty string"),
        (
            "name: x\nversions:\n  - version: v1\n    messages:\n"
            "      - role: user\n        content: '{{ oops'\n",
            6,
            "template error",
        ),
        (
            "name: x\nversions:\n  - version: v1\n    messages: [{role: user, content: a}]\n"
            "  - version: v1\n    messages: [{role: user, content: b}]\n",
            5,
            "appears twice",
        ),
    ],
)
def test_invalid_prompt_file_errors_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PromptError, match=message) as caught:
        load_prompt_file(path)
    assert (caught.value.path, caught.value.line) == (path, line)


def test_lock_writes_missing_hashes_and_keeps_comments(prompts_dir: Path) -> None:
    path = prompts_dir / "greet.yaml"
    _, issues = check_prompts(prompts_dir)
    assert sorted(i.kind for i in issues) == ["unlocked", "unlocked"]

    assert lock_prompt_file(path) == ["v1", "v2"]

    text = path.read_text(encoding="utf-8")
    assert text.startswith("# a comment that lock must keep\n")
    loaded = load_prompt_file(path)
    assert [v.recorded_hash for v in loaded.versions] == [v.hash for v in loaded.versions]
    assert check_prompts(prompts_dir)[1] == []
    assert lock_prompt_file(path) == []  # idempotent


def test_check_detects_edit_without_version_bump(prompts_dir: Path) -> None:
    path = prompts_dir / "greet.yaml"
    lock_prompt_file(path)
    path.write_text(path.read_text(encoding="utf-8").replace("You greet people.", "You greet people warmly."))

    _, issues = check_prompts(prompts_dir)

    assert [(i.kind, i.version) for i in issues] == [("edited", "v1")]
    assert "without a version bump" in issues[0].message


def test_check_compares_with_hashes_recorded_in_traces(prompts_dir: Path) -> None:
    lock_prompt_file(prompts_dir / "greet.yaml")
    current = prompt("greet", "v1", prompts_dir=prompts_dir).hash

    _, clean = check_prompts(prompts_dir, recorded_hashes={("greet", "v1"): {current}})
    _, issues = check_prompts(prompts_dir, recorded_hashes={("greet", "v1"): {current, "0123456789abcdef"}})

    assert clean == []
    assert [(i.kind, i.version) for i in issues] == [("edited-since-recorded", "v1")]
    assert "0123456789abcdef" in issues[0].message


def test_check_reports_invalid_files(prompts_dir: Path) -> None:
    (prompts_dir / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    files, issues = check_prompts(prompts_dir)
    assert [f.name for f in files] == ["greet"]
    assert [i.kind for i in issues if i.kind == "invalid"] == ["invalid"]


def test_prompt_reloads_after_file_changes(prompts_dir: Path) -> None:
    path = prompts_dir / "greet.yaml"
    before = prompt("greet", "v1", prompts_dir=prompts_dir)
    path.write_text(GREETING.replace("You greet people.", "Hi."), encoding="utf-8")
    after = prompt("greet", "v1", prompts_dir=prompts_dir)
    assert before.hash != after.hash
    assert after.render(name="x")[0]["content"] == "Hi."


def test_repository_prompts_load_and_support_answer_is_locked() -> None:
    files, issues = check_prompts(REPO_PROMPTS)
    assert not [i for i in issues if i.kind in ("invalid", "edited")], issues
    support = next(f for f in files if f.name == "support-answer")
    assert all(v.recorded_hash == v.hash for v in support.versions)
    for loaded in files:
        for version in loaded.versions:
            assert version.variables, f"{loaded.name} {version.version} has no template variables"
    rendered = prompt("support-answer", prompts_dir=REPO_PROMPTS).render(
        question="When do you open?", passages=[{"source": "store-hours", "text": "10 AM to 8 PM."}]
    )
    assert rendered[-1]["content"].endswith("Question: When do you open?\n")
    assert "- [store-hours] 10 AM to 8 PM." in rendered[-1]["content"]
