"""`codescale report`: one self-contained HTML file, checked as written and as headless Chromium shows it."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from codescale.agent.records import Trajectory
from codescale.eval.cli.main import app
from fake_server import FakeServer
from headless_chromium import Chromium, chromium_path
from saved_runs import calc_tasks, grade_by_plan, make_run
from codescale.scaling.records import Selection

PDR_PLANS = {
    "calc-0": ["fix", "wrong", "empty", "other"] + ["wrong", "fix", "other", "empty"],
    "calc-1": ["wrong", "other", "wrong", "empty"] + ["other", "wrong", "fix", "wrong"],
}
SINGLE_PLANS = {"calc-0": ["wrong"], "calc-1": ["fix"]}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A pdr+rtv run (with RTV selection curves) and a single-rollout run over two tasks, graded by plan, and
    their report."""
    root = tmp_path_factory.mktemp("report")
    tasks = calc_tasks(root, 2)
    with FakeServer() as server:
        pdr, _ = make_run(server, root / "pdr", tasks, PDR_PLANS, strategy="pdr+rtv", n=4, rtv={"votes": 2}, pdr={"k": 2})
        single, _ = make_run(server, root / "single", tasks, SINGLE_PLANS, strategy="single")
        for run in (pdr, single):
            grade_by_plan(run)
        curves = CliRunner().invoke(app, ["select", str(pdr.path), "--curves", "--seeds", "2"])
        assert curves.exit_code == 0, curves.output
    out = root / "report.html"
    result = CliRunner().invoke(app, ["report", str(single.path), str(pdr.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out, pdr.path, single.path


def counts(*runs) -> dict[str, int]:
    """What the page must show, counted from the run files."""
    found = {"steps": 0, "rollouts": 0, "summaries": 0, "rounds": 0, "votes": 0}
    for run in runs:
        for folder in (run / "tasks").iterdir():
            for path in folder.glob("*.traj.json"):
                found["steps"] += len(Trajectory.load(path).steps)
                found["rollouts"] += 1
            found["summaries"] += len(list(folder.glob("*.summary.json")))
            for path in folder.glob("selection*.json"):
                selection = Selection.model_validate_json(path.read_text())
                found["rounds"] += len(selection.rounds)
                found["votes"] += sum(len(m.votes) > 0 for r in selection.rounds for m in r.matches)
    return found


def test_the_file_is_self_contained(report):
    out, pdr, single = report
    html = out.read_text()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert references and all(ref.startswith(("data:", "#")) for ref in references)
    assert "url(" not in html and "@import" not in html and "<script src" not in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 5
    assert '<figcaption>Resolved rate of RTV survivors per round</figcaption>' in html
    assert "<h4>The paper&#39;s quantities (Kim et al. 2026)</h4>" in html and "<td>context-g0</td>" in html
    assert "Compared on 2 shared tasks (single: 2, pdr: 2); baseline: single." in html
    assert "Issue 0: add() subtracts instead of adding." in html


def test_a_report_of_an_ungraded_run_has_no_table_but_every_rollout(report, tmp_path):
    _, _, single = report
    shutil.copytree(single, tmp_path / "ungraded", ignore=shutil.ignore_patterns("eval.jsonl"))
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(tmp_path / "ungraded"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "No comparison table:" in html and "no eval.jsonl" in html
    assert html.count('class="badge none">ungraded') == 2 * 3  # per task: the answer, its rollout's row and trajectory
    assert "data:image/png" not in html


@pytest.mark.slow
def test_the_report_opens_in_headless_chromium_without_errors(report, tmp_path):
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); .ci/run installs it")
    out, pdr, single = report
    expected = counts(pdr, single)
    with Chromium() as browser:
        browser.open(out.as_uri())
        q = lambda selector: browser.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length")  # noqa: E731
        assert browser.evaluate("document.title") == "codescale report: single, pdr"
        images = browser.evaluate("[...document.querySelectorAll('figure.plot img')].map(i => [i.alt, i.naturalWidth])")
        assert [alt for alt, _ in images] == ["Resolved vs cost", "Resolved vs N", "Judge accuracy per round",
                                             "Resolved rate of RTV survivors per round", "Tokens per phase"]
        assert all(width > 300 for _, width in images)  # decoded, not broken
        # resolved, cost, judge, per generation; the paper's quantities, rounds and context buckets
        assert q("#runs tbody tr") == 2 and q("table.numbers") == 7
        assert q("section.task") == 2 and q("details.run") == 4
        assert q("details.rollout") == expected["rollouts"] and q("details.step") == expected["steps"]
        assert q("details.summary") == expected["summaries"] and q("table.round") == expected["rounds"]
        assert q("details.votes") == expected["votes"]
        browser.screenshot(tmp_path / "top.png", full_page=False)

        assert browser.evaluate("[...document.querySelectorAll('#task-calc-0 details')].some(d => !d.open)")
        browser.evaluate("document.querySelector('#task-calc-0 button.expand').click()")
        assert browser.evaluate("[...document.querySelectorAll('#task-calc-0 details')].every(d => d.open)")
        browser.evaluate("document.querySelector('#task-calc-0 h4.bracket').scrollIntoView()")
        browser.screenshot(tmp_path / "bracket.png", full_page=False)
        assert browser.errors == []
        assert all(url.startswith(("file:", "data:")) for url in browser.requests)
    for name in ("top.png", "bracket.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / name).stat().st_size > 20_000
