"""`codescale view` in headless Chromium: the task page of a scripted pdr+rtv run draws its brackets and which
summaries fed which refined rollout, a rollout page shows the messages each step was sent (as the fake server received
them), a run in progress shows, text from a model stays text, and the static copy opens from the file system.
Screenshots are saved in each test's tmp dir; their paths are printed."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from codescale.agent.records import Trajectory
from codescale.eval.analysis.viewer import make_server, write_static
from codescale.eval.runs.rundir import RunDir
from codescale.scaling.records import Selection, Summary
from headless_chromium import Chromium, chromium_path
from saved_runs import pdr_run

pytestmark = pytest.mark.slow

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script></pre><b>bold</b>'


@pytest.fixture(scope="module", autouse=True)
def chromium():
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); .ci/run installs it")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    return pdr_run(tmp_path_factory.mktemp("page"))


class Served:
    """A viewer server over a run on a free port, in a thread."""

    def __init__(self, path: Path):
        self.server = make_server(RunDir(path), 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> Served:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def show(browser: Chromium, url: str, page: str) -> None:
    """Open `url` at `page` (a hash such as #/task/calc-0) and wait until the page has shown it."""
    if browser.evaluate("location.href.split('#')[0]") == url:
        browser.evaluate(f"location.hash = {json.dumps(page)}")  # the same document: no load event
    else:
        browser.open(url + page)
    deadline = time.monotonic() + 20
    while browser.evaluate("document.getElementById('main').dataset.shown || ''") != page:
        assert time.monotonic() < deadline, browser.evaluate("document.getElementById('main').innerText")
        time.sleep(0.05)
    assert not browser.evaluate("!!document.getElementById('failure')"), browser.evaluate("document.body.innerText")


def screenshot(browser: Chromium, path: Path, full_page: bool = True) -> None:
    browser.screenshot(path, full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    print(f"screenshot: {path}")


def test_the_task_page_draws_the_brackets_and_the_refinement_contexts(scripted, tmp_path):
    run, _ = scripted
    saved = {s.stage: s for s in (Selection.model_validate_json(p.read_text()) for p in run.files("calc-0").selections())}
    with Served(run.path) as served, Chromium() as browser:
        show(browser, served.url, "#/task/calc-0")
        for stage, selection in saved.items():
            section = f"document.querySelector('section.selection[data-stage=\"{stage}\"]')"
            rounds = browser.evaluate(f"[...{section}.querySelectorAll('.round:not(.chosen)')].map(r => "
                                      "[...r.querySelectorAll('.match')].map(m => [...m.querySelectorAll('.entrant')].map("
                                      "e => [e.dataset.rid, e.classList.contains('win')])))")
            assert rounds == [[[[rid, rid in m.winners] for rid in m.candidates] for m in r.matches] for r in selection.rounds]
            chosen = browser.evaluate(f"[...{section}.querySelectorAll('.round.chosen .entrant')].map(e => e.dataset.rid)")
            assert chosen == selection.winners
            orderings = browser.evaluate(f"[...{section}.querySelectorAll('.ordering')].map(o => o.textContent)")
            assert len(orderings) == sum(2 for r in selection.rounds for m in r.matches if not (m.bye or m.identical))
            # one wire per entrant that came from the round before (and per chosen), each drawn left to right
            wires = browser.evaluate(f"[...{section}.querySelectorAll('svg.wires path')].map(p => p.getAttribute('d'))")
            assert len(wires) == sum(len(m.candidates) for r in selection.rounds[1:] for m in r.matches) + len(selection.winners)
            for d in wires:
                start, end = d.split(" ")[0], d.split(" ")[-1]
                assert float(start[1:].split(",")[0]) < float(end[1:]), d
        context = saved["context-g0"]
        feeds = browser.evaluate("[...document.querySelectorAll('.feed')].map(f => ["
                                 "[...f.querySelectorAll('.sources .entrant')].map(e => e.dataset.rid),"
                                 "[...f.querySelectorAll('.fed .entrant')].map(e => e.dataset.rid)])")
        assert feeds == [[context.winners, ["g1-r0", "g1-r1", "g1-r2", "g1-r3"]]]
        assert browser.evaluate("document.querySelectorAll('table.rollouts tbody tr').length") == 8
        screenshot(browser, tmp_path / "task-page.png")
        assert browser.errors == []
        assert all(url.startswith(served.url) for url in browser.requests)


def test_a_rollout_page_shows_the_messages_each_step_was_sent(scripted, tmp_path):
    run, sent = scripted
    traj = run.trajectory("calc-0", "g1-r1")
    received = [m for m in sent if m[1] == traj.prompt[1]]  # what the fake server got for this rollout, step by step
    assert len(received) == len(traj.steps) == 3
    with Served(run.path) as served, Chromium() as browser:
        show(browser, served.url, "#/rollout/calc-0/g1-r1")
        opening = browser.evaluate("[...document.querySelectorAll('main > ol.messages li')].map(li => "
                                   "[li.dataset.role, li.querySelector('pre').textContent])")
        assert opening == [[m["role"], m["content"]] for m in received[0]]
        for k, messages in enumerate(received):
            step = f"document.querySelector('details.sent[data-step=\"{k}\"]')"
            browser.evaluate(f"{step}.open = true")
            shown = browser.evaluate(f"new Promise(done => setTimeout(() => done([...{step}.querySelectorAll('li')].map("
                                     "li => [li.dataset.role, li.querySelector('pre').textContent])), 50))")
            assert shown == [[m["role"], m["content"]] for m in messages], k
        summary = Summary.model_validate_json(run.files("calc-0").summary("g1-r1").read_text())
        assert summary.lessons in browser.evaluate("document.querySelector('details.summary').textContent")
        screenshot(browser, tmp_path / "rollout-page.png")
        browser.evaluate("document.querySelector('details.sent[data-step=\"2\"]').scrollIntoView()")
        screenshot(browser, tmp_path / "rollout-messages.png", full_page=False)
        assert browser.errors == []


def test_a_run_in_progress_shows_its_running_task_and_rollouts(scripted, tmp_path):
    run, _ = scripted
    live = RunDir(tmp_path / "live")
    shutil.copytree(run.path, live.path)
    first, second = live.results_path.read_text().splitlines()
    live.results_path.write_text(first + "\n" + second[:100])  # a torn last line
    for rid in ("g1-r2", "g1-r3"):
        path = live.files("calc-1").trajectory(rid)
        traj = Trajectory.load(path)
        traj.exit_status, traj.steps = None, traj.steps[:1]
        traj.save(path)
    with Served(live.path) as served, Chromium() as browser:
        show(browser, served.url, "#/")
        rows = browser.evaluate("[...document.querySelectorAll('table.tasks tbody tr')].map(r => r.cells[1].textContent)")
        assert rows == ["done", "running"]
        assert "2 running" in browser.evaluate("document.querySelector('table.tasks').textContent")
        screenshot(browser, tmp_path / "run-in-progress.png", full_page=False)
        show(browser, served.url, "#/task/calc-1")
        statuses = browser.evaluate("[...document.querySelectorAll('table.rollouts tbody tr')].map(r => r.cells[1].textContent)")
        assert statuses == ["submitted"] * 6 + ["running"] * 2
        assert browser.errors == []


def test_what_a_model_or_a_command_wrote_stays_text(scripted, tmp_path):
    run, _ = scripted
    copy = RunDir(tmp_path / "hostile")
    shutil.copytree(run.path, copy.path)
    files = copy.files("calc-0")
    traj = Trajectory.load(files.trajectory("g0-r1"))
    traj.steps[0].response = traj.steps[0].thinking = traj.steps[0].observation = HOSTILE
    traj.patch = HOSTILE
    traj.save(files.trajectory("g0-r1"))
    summary = Summary.model_validate_json(files.summary("g0-r1").read_text())
    summary.lessons = HOSTILE
    files.save(files.summary("g0-r1"), summary)
    selection = json.loads(files.selection().read_text())
    selection["rounds"][0]["matches"][0]["votes"][0]["response"] = HOSTILE
    files.selection().write_text(json.dumps(selection))
    task = json.loads(files.task.read_text())
    task["problem_statement"] = HOSTILE
    files.task.write_text(json.dumps(task))
    with Served(copy.path) as served, Chromium() as browser:
        for page in ("#/task/calc-0", "#/rollout/calc-0/g0-r1"):
            show(browser, served.url, page)
            browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert browser.evaluate("document.querySelectorAll('main img, main script, main b').length") == 0
            assert browser.evaluate("typeof window.pwned") == "undefined"
            assert HOSTILE in browser.evaluate("document.getElementById('main').textContent")
        assert browser.evaluate("document.querySelector('details.step pre.response').textContent") == HOSTILE
        assert browser.errors == []
        assert all(url.startswith(served.url) for url in browser.requests)  # the img never asked for "x"


def test_the_static_copy_opens_from_the_file_system(scripted, tmp_path):
    run, _ = scripted
    write_static(run, tmp_path / "static")
    index = (tmp_path / "static" / "index.html").as_uri()
    with Chromium() as browser:
        show(browser, index, "#/task/calc-0")
        assert browser.evaluate("document.querySelectorAll('section.selection').length") == 2
        assert browser.evaluate("document.querySelectorAll('svg.wires path').length") > 0
        show(browser, index, "#/rollout/calc-1/g1-r2")
        assert browser.evaluate("document.querySelectorAll('details.step').length") == len(run.trajectory("calc-1", "g1-r2").steps)
        assert browser.errors == []
        assert all(url.startswith("file:") for url in browser.requests)
