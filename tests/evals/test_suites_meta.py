"""Every suite shipped in evalsuites/ loads, validates, imports, and renders its chat inputs."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.meta
import pytest

from llmmon.evals import check_imports, load_suite
from llmmon.evals.suite import EvalSuite, NoHallucinationAssertion

SUITES_DIR = Path(__file__).resolve().parents[2] / "evalsuites"
SUITE_FILES = sorted(SUITES_DIR.glob("*.yaml")) + sorted(SUITES_DIR.glob("*.yml"))


def test_evalsuites_directory_has_suites() -> None:
    assert SUITE_FILES, f"no suite files in {SUITES_DIR}"


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.name)
def test_suite_file_loads_validates_and_imports(path: Path) -> None:
    suite = load_suite(path)
    assert suite.cases and suite.suite_hash
    assert len({case.case_hash for case in suite.cases}) == len(suite.cases), "two cases have the same hash"
    check_imports(suite)  # raises EvalSuiteError for a target or python assertion that does not import


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.name)
def test_suite_template_variables_are_all_supplied(path: Path) -> None:
    suite = load_suite(path)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    missing: dict[str, set[str]] = {}
    unused: dict[str, set[str]] = {}
    for case in suite.cases:
        contents = [case.input] if isinstance(case.input, str) else [m.content for m in case.input]
        wanted: set[str] = set()
        for content in contents:
            wanted |= jinja2.meta.find_undeclared_variables(env.parse(content))
        if isinstance(case.input, str):
            # A plain question is sent as is; a "{{ x }}" in it would reach the chatbot unrendered.
            assert not wanted, f"{case.id}: a plain-text input cannot use template variables {sorted(wanted)}"
            continue
        if wanted - case.variables.keys():
            missing[case.id] = wanted - case.variables.keys()
        if case.variables.keys() - wanted:
            unused[case.id] = set(case.variables) - wanted
        for content in contents:
            env.from_string(content).render(**case.variables)
    assert not missing, f"template variables without a value: {missing}"
    assert not unused, f"variables no message uses (a typo?): {unused}"


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.name)
def test_suite_knowledge_base_exists_when_fact_checked(path: Path) -> None:
    suite = load_suite(path)
    names = {
        a.knowledge_base or suite.knowledge_base
        for case in suite.cases
        for a in suite.assertions_for(case)
        if isinstance(a, NoHallucinationAssertion)
    }
    for name in names:
        assert name, f"{path.name}: no_hallucination without a knowledge_base"
        assert _kb_path(suite, name).exists(), f"{path.name}: knowledge base {name!r} is not a directory here"


def _kb_path(suite: EvalSuite, name: str) -> Path:
    assert suite.path is not None
    return (suite.path.parent / name).resolve()
