"""The scripted population of bench_evidence.py: per bundled task, what its rollouts write.

A reproduction is what an agent would write from the issue text alone (never from the hidden tests): a few
asserts on the behaviour the issue describes. Wrong fixes are made from the gold patch at build time:
`break` is the gold fix plus a change that breaks an existing test, `partial` is a change that does not fix
the issue (the gold patch's first file only when it touches more than one, else a comment).
"""

REPRODUCTIONS = {
    "codescale__confkit-1": (
        "from confkit import parse\n"
        "doc = parse('[bot]\\nprompt = \"Type \\\\\"#help\\\\\" for a list\"\\n')\n"
        "assert doc.get('bot.prompt') == 'Type \"#help\" for a list', doc.get('bot.prompt')\n"
        "doc = parse('tags = [\"\\\\\"#1\\\\\" seller\", \"new\"]\\n')\n"
        "assert doc.get('tags') == ['\"#1\" seller', 'new'], doc.get('tags')\n"),
    "codescale__eventbus-1": (
        "from eventbus import EventBus\n"
        "bus, seen = EventBus(), []\n"
        "bus.subscribe('order.*', lambda *a, **k: seen.append('star'))\n"
        "bus.subscribe('order.#', lambda *a, **k: seen.append('hash'))\n"
        "bus.publish('order.created', {})\n"
        "bus.publish('order.item.added', {})\n"
        "assert seen == ['star', 'hash', 'hash'], seen\n"),
    "codescale__invoicer-1": (
        "from invoicer.importer import invoice_from_csv\n"
        "from invoicer.money import Money\n"
        "assert str(Money.parse('19.99')) == str(Money(1999)), Money.parse('19.99')\n"
        "assert str(Money.parse('0.29')) == str(Money(29)), Money.parse('0.29')\n"),
    "codescale__jobsched-1": (
        "import datetime as dt\n"
        "from jobsched.durations import parse_duration\n"
        "assert parse_duration('500ms') == dt.timedelta(milliseconds=500), parse_duration('500ms')\n"
        "assert parse_duration('250ms') == dt.timedelta(milliseconds=250)\n"),
    "codescale__memo-1": (
        "from memo import memoize\n"
        "calls = []\n"
        "@memoize()\n"
        "def price(sku, currency='EUR'):\n"
        "    calls.append(currency)\n"
        "    return {'EUR': 10.0, 'USD': 11.0}[currency]\n"
        "assert price('A1', currency='EUR') == 10.0\n"
        "assert price('A1', currency='USD') == 11.0, calls\n"
        "now = [0.0]\n"
        "@memoize(ttl=60, clock=lambda: now[0])\n"
        "def flag():\n"
        "    calls.append('flag')\n"
        "    return len(calls)\n"
        "for t in range(0, 130, 5):\n"
        "    now[0] = t\n"
        "    flag()\n"
        "assert calls.count('flag') >= 2, calls\n"),
    "codescale__shopcart-1": (
        "from decimal import Decimal\n"
        "from shop.coupons import lookup\n"
        "assert lookup('SPRING15').discount(Decimal('40.00')) == Decimal('6.00'), lookup('SPRING15').discount(Decimal('40.00'))\n"),
    "codescale__slugkit-1": (
        "from slugkit import slugify\n"
        "assert slugify('Hello, World!') == 'hello-world', slugify('Hello, World!')\n"
        "assert slugify('Release notes (v2)', separator='_') == 'release_notes_v2'\n"),
    "codescale__tabular-1": (
        "from tabular import Table\n"
        "t = Table(['name', 'city'], [['Ada', 'London, UK']])\n"
        "assert Table.from_text(t.to_text()).rows == [['Ada', 'London, UK']], Table.from_text(t.to_text()).rows\n"),
    "codescale__textstats-1": (
        "from textstats import top_words\n"
        "words = dict(top_words(\"I don't like it. It doesn't work and it isn't cheap.\", 10))\n"
        "assert 't' not in words and \"don't\" in words, words\n"),
    "codescale__thermo-1": (
        "from thermo import convert\n"
        "assert abs(convert(300, 'K', 'C') - 26.85) < 1e-6, convert(300, 'K', 'C')\n"
        "assert abs(convert(0, 'C', 'K') - 273.15) < 1e-6, convert(0, 'C', 'K')\n"),
    "codescale__timesheet-1": (
        "import datetime as dt\n"
        "from timesheet.report import render_report\n"
        "text = render_report([], dt.date(2024, 3, 4), dt.date(2024, 3, 8))\n"
        "assert '2024-03-08' in text, text\n"),
    "codescale__unitconv-1": (
        "from unitconv import convert\n"
        "assert abs(convert(36, 'km/h', 'm/s') - 10.0) < 1e-9, convert(36, 'km/h', 'm/s')\n"),
}

import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from codescale.agent.records import Task  # noqa: E402

REPRO_TEST = "tests/test_issue_repro.py"
REPRO_SCRIPT = "reproduce_issue.py"


def _run(argv: list[str], cwd: Path, data: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, input=data, capture_output=True, text=True, timeout=300)


def _copy(task: Task, root: Path, name: str) -> Path:
    """A scratch copy of the task's local repository (setup outputs included)."""
    target = root / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(task.repo_dir, target)
    return target


def _diff(repo: Path) -> str:
    _run(["git", "add", "-A"], repo)
    return _run(["git", "diff", "--cached", "--no-color", "HEAD"], repo).stdout


def repro_test(task: Task) -> str:
    body = REPRODUCTIONS[task.instance_id]
    if task.test_runner == "unittest":
        inner = "".join("        " + line + "\n" if line else "\n" for line in body.splitlines())
        return f"import unittest\n\n\nclass IssueReproTest(unittest.TestCase):\n    def test_issue(self):\n{inner}"
    return "def test_issue_reproduced():\n" + "".join("    " + line + "\n" if line else "\n" for line in body.splitlines())


def _passes(repo: Path, task: Task, tests: list[str]) -> bool:
    """Whether the listed tests pass in `repo` (the ground truth of the population, never shown to the evidence)."""
    from codescale.eval.tasks.local_suite import test_command

    return _run(["bash", "-c", test_command(task.model_copy(update={"FAIL_TO_PASS": tests, "PASS_TO_PASS": []}))],
                repo).returncode == 0


def resolves(task: Task, root: Path, patch: str) -> bool:
    """The hidden grade of a patch: it and the test patch apply, and FAIL_TO_PASS + PASS_TO_PASS pass."""
    repo = _copy(task, root, "grade")
    for text in (patch, task.test_patch):
        if text.strip() and _run(["git", "apply", "-"], repo, text).returncode:
            return False
    return _passes(repo, task, task.FAIL_TO_PASS + task.PASS_TO_PASS)


def _existing_pass(repo: Path, task: Task) -> bool:
    return _passes(repo, task, [])  # no ids: the whole existing suite


def _repro_passes(repo: Path, task: Task) -> bool:
    (repo / "_repro_check.py").write_text(REPRODUCTIONS[task.instance_id])
    try:
        return _run(["python3", "_repro_check.py"], repo).returncode == 0
    finally:
        (repo / "_repro_check.py").unlink()


def breaking_fix(task: Task, root: Path) -> str | None:
    """The gold code plus one function made to raise, chosen so that the reproduction still passes and an
    existing test fails: a fix that breaks something else."""
    gold_files = set(re.findall(r"^diff --git a/\S+ b/(\S+)", task.patch, re.M))
    repo = _copy(task, root, "break")
    _run(["git", "apply", "-"], repo, task.patch)
    sources = [p for p in sorted(repo.rglob("*.py")) if ".git" not in p.parts and "tests" not in p.parts
               and not p.name.startswith("test") and p.relative_to(repo).as_posix() not in gold_files]
    sources += [repo / f for f in sorted(gold_files) if f.endswith(".py")]
    for path in sources:
        text = path.read_text()
        for match in re.finditer(r"^( *)def (\w+)\(.*?\).*?:\n((?:\1 {4}[\"']{3}.*?[\"']{3}\n)?)", text, re.M | re.S):
            if match.group(2).startswith("__"):
                continue
            indent = match.group(1) + "    "
            mutated = text[: match.end()] + f"{indent}raise RuntimeError('refactored: see the new API')\n" + text[match.end():]
            path.write_text(mutated)
            if _repro_passes(repo, task) and not _existing_pass(repo, task):
                return _diff(repo)
            path.write_text(text)
    return None  # no single function breaks an existing test while the reproduction still passes


def partial_fix(task: Task, root: Path) -> str:
    """A change that does not fix the issue: the gold patch's first file when it has several and that does not
    make the reproduction pass, else a comment in the first file the gold patch changes."""
    repo = _copy(task, root, "partial")
    sections = re.split(r"(?m)^(?=diff --git )", task.patch)
    sections = [s for s in sections if s.startswith("diff --git ")]
    if len(sections) > 1:
        _run(["git", "apply", "-"], repo, sections[0])
        if not _repro_passes(repo, task):
            return _diff(repo)
        _run(["git", "checkout", "-q", "--", "."], repo)
    first = re.match(r"diff --git a/\S+ b/(\S+)", sections[0]).group(1)
    path = repo / first
    path.write_text("# Inputs are validated before use (see the issue).\n" + path.read_text())
    return _diff(repo)


def with_files(task: Task, root: Path, patch: str, files: dict[str, str], name: str) -> str:
    """`patch` plus new files (a rollout's reproduction), as one patch."""
    repo = _copy(task, root, name)
    if patch.strip():
        _run(["git", "apply", "-"], repo, patch)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return _diff(repo)


def population(task: Task, root: Path) -> tuple[dict[str, str], dict[str, bool]]:
    """Plan name -> the patch its rollouts produce, and plan name -> whether that patch resolves the task."""
    gold, broken, partial = task.patch, breaking_fix(task, root), partial_fix(task, root)
    plans = {
        "gold_test": with_files(task, root, gold, {REPRO_TEST: repro_test(task)}, "p1"),
        "gold_script": with_files(task, root, gold, {REPRO_SCRIPT: REPRODUCTIONS[task.instance_id]}, "p2"),
        "partial": partial,
        "partial_note": with_files(task, root, partial, {"NOTES.md": "Checked the parser; see the change.\n"}, "p4"),
    }
    if broken is not None:
        plans["break"] = with_files(task, root, broken, {REPRO_TEST: repro_test(task)}, "p3")
    truth = {name: resolves(task, root, patch) for name, patch in plans.items()}
    return plans, truth
