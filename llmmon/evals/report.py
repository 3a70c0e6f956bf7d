"""Render a ``GateReport``: terminal (rich), JUnit XML, Markdown (PR comment) and self-contained HTML.

Usage::

    print_terminal(report)                      # rich, to stdout
    Path("gate.xml").write_text(render_junit(report))
    Path("gate.md").write_text(render_markdown(report))
    Path("gate.html").write_text(render_html(report))
"""

from __future__ import annotations

import difflib
import html
import io
import xml.etree.ElementTree as ET

from rich.console import Console
from rich.table import Table

from llmmon.evals.gate import CaseComparison, GateReport, MetricComparison

__all__ = [
    "JUNIT_GATE_CLASSNAME",
    "print_terminal",
    "render_html",
    "render_junit",
    "render_markdown",
    "render_terminal",
]

_HEADLINE = {
    "pass": "PASS",
    "regression": "REGRESSION",
    "config_error": "CONFIG ERROR",
    "infrastructure_error": "INFRASTRUCTURE ERROR",
    "insufficient_evidence": "INSUFFICIENT EVIDENCE",
}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _metric_row(m: MetricComparison) -> list[str]:
    t = m.test
    if t is None:
        return [m.metric, "—", "—", "—", "—", "—", "—", m.verdict]
    ci = f"[{t.ci_low:+.3f}, {t.ci_high:+.3f}] ({t.ci_level:.0%})"
    means = [_num(t.baseline_mean), _num(t.candidate_mean), f"{t.difference:+.3f}"]
    return [m.metric, *means, ci, _p(t.p_value), _p(m.p_adjusted), m.verdict]


_METRIC_HEADERS = ["metric", "baseline", "candidate", "difference", "CI", "p", "p (adjusted)", "verdict"]


def _output(case: CaseComparison, which: str) -> str:
    result = case.candidate if which == "candidate" else case.baseline
    if result is None or not result.trials:
        return ""
    observation = result.trials[0].observation
    if observation is None:
        return result.trials[0].error or result.trials[0].infrastructure_error or ""
    return observation.output


# --------------------------------------------------------------------------- terminal


def render_terminal(report: GateReport, *, width: int = 110) -> str:
    """The terminal summary as plain text (for tests and logs)."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_terminal(report, console=console)
    return console.export_text()


def print_terminal(report: GateReport, *, console: Console | None = None) -> None:
    """Print the summary: verdict and reasons, per-metric table, changed and flaky cases, cost split."""
    console = console or Console()
    style = "bold green" if report.decision == "pass" else "bold red"
    console.print(
        f"[{style}]{_HEADLINE[report.decision]}[/] {report.suite_name}  (exit {report.exit_code}; "
        f"mode {report.mode}, δ={report.delta:g}, α={report.alpha:g})"
    )
    for reason in report.reasons:
        console.print(f"  • {reason}", markup=False)
    c = report.candidate
    console.print(
        f"candidate {c.label or c.run_id or ''}: {c.cases} cases, {c.scored} scored ({_pct(c.coverage)}), "
        f"pass rate {_pct(c.pass_rate)}",
        markup=False,
    )
    if report.baseline is not None:
        b = report.baseline
        console.print(
            f"baseline  {b.label or b.run_id or ''}: {b.cases} cases, pass rate {_pct(b.pass_rate)}; "
            f"{report.compared_cases} cases compared",
            markup=False,
        )
    if report.metrics:
        table = Table(title=f"gating metrics (adjustment: {report.adjustment})")
        for header in _METRIC_HEADERS:
            table.add_column(header)
        for m in report.metrics:
            table.add_row(*_metric_row(m))
        console.print(table)
    for t in report.thresholds:
        console.print(f"threshold {t.metric} >= {t.threshold:g}: {_num(t.value)} {'ok' if t.passed else 'FAILED'}")
    if report.newly_failing:
        console.print(f"[red]newly failing[/]: {', '.join(report.newly_failing)}")
    if report.newly_passing:
        console.print(f"[green]newly passing[/]: {', '.join(report.newly_passing)}")
    failing = [row for row in report.cases if row.change in ("newly_failing", "still_failing") or row.must_pass]
    for row in failing:
        if row.failures:
            console.print(f"  {row.case_id}: {'; '.join(row.failures[:3])}", markup=False)
    for f in report.flaky:
        tag = " (quarantined)" if f.quarantined else ""
        console.print(f"flaky {f.case_id} [{f.run}]: flip rate {f.flip_rate:.2f} {list(f.verdicts)}{tag}", markup=False)
    for d in report.fingerprint_differences:
        console.print(f"fingerprint {d.key}: {d.baseline} -> {d.candidate}", markup=False)
    if report.minimum_detectable_drop is not None:
        console.print(
            f"smallest drop this suite detects (80% power): {report.minimum_detectable_drop:.1%} of pass rate"
        )
    console.print(f"cost: chatbot ${c.chatbot_cost_usd:.4f}, judge ${c.judge_cost_usd:.4f}")
    for note in report.notes:
        console.print(f"note: {note}", markup=False)


# --------------------------------------------------------------------------- JUnit


#: The classname of the extra JUnit test case that carries the gate's decision.
JUNIT_GATE_CLASSNAME = "llmmon.gate"


def render_junit(report: GateReport) -> str:
    """JUnit XML: one ``testcase`` per eval case, plus one for the gate's decision (classname ``llmmon.gate``)."""
    suite = ET.Element("testsuite", name=report.suite_name)
    failures = skipped = 0
    for row in report.cases:
        case = ET.SubElement(suite, "testcase", classname=f"llmmon.{report.suite_name}", name=row.case_id)
        rate = row.candidate_pass_rate
        if rate is None:
            ET.SubElement(case, "skipped", message="unscored: " + "; ".join(row.failures)[:500])
            skipped += 1
        elif rate < 1.0:
            kind = "must_pass failure" if row.must_pass else f"pass rate {rate:.0%}"
            failure = ET.SubElement(case, "failure", message=kind, type=row.change)
            failure.text = "\n".join(row.failures)
            failures += 1
        if row.flaky or row.quarantined:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="flaky", value=str(row.flaky).lower())
            ET.SubElement(props, "property", name="quarantined", value=str(row.quarantined).lower())
    # One more test case than the suite has cases: the gate's own decision (classname llmmon.gate), so a
    # CI test view shows a blocked deploy even when every case passed (e.g. insufficient evidence).
    gate = ET.SubElement(suite, "testcase", classname=JUNIT_GATE_CLASSNAME, name="decision")
    details = [*report.reasons, *(f"{m.metric}: {m.verdict} " + " ".join(_metric_row(m)) for m in report.metrics)]
    if report.decision != "pass":
        failure = ET.SubElement(gate, "failure", message=report.decision, type="gate")
        failure.text = "\n".join(details)
        failures += 1
    elif details:
        ET.SubElement(gate, "system-out").text = "\n".join(details)
    suite.set("tests", str(len(report.cases) + 1))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="decision", value=report.decision)
    ET.SubElement(props, "property", name="exit_code", value=str(report.exit_code))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: GateReport) -> str:
    """A pull-request comment: verdict, reasons, metric table, changed cases, flaky cases, notes."""
    icon = "✅" if report.decision == "pass" else "❌"
    lines = [
        f"### {icon} llmmon eval gate: {_HEADLINE[report.decision]} — `{report.suite_name}`",
        "",
        f"Mode `{report.mode}`, δ = {report.delta:g}, α = {report.alpha:g}, exit code {report.exit_code}.",
        "",
    ]
    lines += [f"- {_md(r)}" for r in report.reasons]
    c = report.candidate
    lines += [
        "",
        f"Candidate: {c.cases} cases, {c.scored} scored ({_pct(c.coverage)}), pass rate {_pct(c.pass_rate)}.",
    ]
    if report.baseline is not None:
        lines.append(f"Baseline: pass rate {_pct(report.baseline.pass_rate)}; {report.compared_cases} cases compared.")
    if report.metrics:
        lines += ["", "| " + " | ".join(_METRIC_HEADERS) + " |", "|" + "---|" * len(_METRIC_HEADERS)]
        lines += ["| " + " | ".join(_md(x) for x in _metric_row(m)) + " |" for m in report.metrics]
    changed = [
        r for r in report.cases if r.change in ("newly_failing", "newly_passing") or (r.must_pass and r.failures)
    ]
    if changed:
        lines += ["", "| case | change | why |", "|---|---|---|"]
        lines += [f"| `{r.case_id}` | {r.change} | {_md('; '.join(r.failures[:3]))} |" for r in changed]
    if report.flaky:
        lines += ["", "Flaky cases: " + ", ".join(f"`{f.case_id}` ({f.flip_rate:.2f})" for f in report.flaky)]
    if report.minimum_detectable_drop is not None:
        lines += ["", f"Smallest drop this suite detects at 80% power: {report.minimum_detectable_drop:.1%}."]
    lines += [f"> {_md(n)}" for n in report.notes]
    lines.append(f"\nCost: chatbot ${c.chatbot_cost_usd:.4f}, judge ${c.judge_cost_usd:.4f}.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.pass{color:#176f2c}.fail{color:#b3261e}details{margin:.4rem 0}summary{cursor:pointer}
table.diff{font-family:monospace;font-size:.85rem}.diff_add{background:#cfc}.diff_chg{background:#ffa}
.diff_sub{background:#fcc}
"""


def render_html(report: GateReport) -> str:
    """One self-contained page (inline CSS, no scripts, no CDN) with a side-by-side diff per case."""
    e = html.escape
    cls = "pass" if report.decision == "pass" else "fail"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>llmmon gate: {e(report.suite_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1 class='{cls}'>{_HEADLINE[report.decision]} — {e(report.suite_name)}</h1>",
        f"<p>mode {e(report.mode)}, δ={report.delta:g}, α={report.alpha:g}, exit code {report.exit_code}</p>",
        "<ul>" + "".join(f"<li>{e(r)}</li>" for r in report.reasons) + "</ul>",
    ]
    if report.metrics:
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in _METRIC_HEADERS) + "</tr>")
        for m in report.metrics:
            parts.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in _metric_row(m)) + "</tr>")
        parts.append("</table>")
    if report.minimum_detectable_drop is not None:
        parts.append(f"<p>Smallest drop detectable at 80% power: {report.minimum_detectable_drop:.1%}</p>")
    parts.extend(f"<p><em>{e(n)}</em></p>" for n in report.notes)
    differ = difflib.HtmlDiff(wrapcolumn=70)
    parts.append("<h2>Cases</h2>")
    for row in report.cases:
        ok = row.candidate_pass_rate is not None and row.candidate_pass_rate >= 1.0
        summary = f"{e(row.case_id)} — {e(row.change)} ({_pct(row.candidate_pass_rate)})"
        if row.must_pass:
            summary += " must_pass"
        parts.append(f"<details{'' if ok else ' open'}><summary class='{'pass' if ok else 'fail'}'>{summary}</summary>")
        if row.failures:
            parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in row.failures) + "</ul>")
        candidate_text = _output(row, "candidate")
        if row.baseline is not None:
            table = differ.make_table(
                _output(row, "baseline").splitlines() or [""],
                candidate_text.splitlines() or [""],
                "baseline",
                "candidate",
            )
            parts.append(table)
        else:
            parts.append(f"<pre>{e(candidate_text)}</pre>")
        parts.append("</details>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
