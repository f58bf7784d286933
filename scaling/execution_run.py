"""Gathering execution evidence: the base commit first, then every candidate's code part, each in a fresh
sandbox (up to `concurrency` at once, each time-boxed), only the checks its cached record has not run yet.

Records live in the task directory: `evidence.base.json` and `<rollout_id>.evidence.json`. A record whose
code part has the same digest as one already on disk (another rollout, an earlier session, the run that
`codescale select` re-selects) is reused; only missing checks open a sandbox.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, ValidationError

from codescale.agent.files import TaskFiles
from codescale.agent.records import Task
from codescale.agent.rollout import open_sandbox
from codescale.sandboxes.base import SandboxError
from codescale.scaling.execution import (
    BASE, Check, Evidence, SelectionConfig, blind, changed_modules, digest, is_test_path, outcomes, plan_checks, split,
)

log = logging.getLogger(__name__)
PATCH_FILE = ".git/codescale-evidence.patch"
"""Where a patch is written in the sandbox (inside .git: never part of the tree, never cleaned)."""
GIT = "git -c user.name=codescale -c user.email=evidence@codescale.invalid"
RUN_ID = "codescale-evidence"
"""The run label of evidence sandboxes gathered outside a run (a run labels them with its own id)."""


class TaskEvidence(BaseModel):
    """What the evidence of one selection is: the base record, the checks, and each candidate's record."""

    base: Evidence
    checks: list[Check]
    candidates: dict[str, Evidence]
    """Rollout id -> its record."""
    seconds: float = 0.0
    """Sandbox time spent now (cached checks cost nothing)."""


def _apply(sandbox, patch: str) -> bool:
    sandbox.write_file(PATCH_FILE, patch)
    return sandbox.execute(f"git apply --whitespace=nowarn {PATCH_FILE}", timeout=120).returncode == 0


def run_checks(sandbox, code: str, checks: list[Check], deadline: float, record: Evidence) -> None:
    """Apply `code` and commit it, then run each check from that state (reset after each reproduction)."""
    if code.strip() and not _apply(sandbox, code):
        record.applied = False
        return
    sandbox.execute(f"{GIT} add -A >/dev/null && {GIT} commit -q --allow-empty -m candidate", timeout=120)
    for check in checks:
        left = deadline - time.monotonic()
        if left <= 1:
            record.timed_out.append(check.key)
            record.results[check.key] = {}
            continue
        if check.apply and not _apply(sandbox, check.apply):
            record.results[check.key] = {}  # the reproduction does not apply on top of this candidate
            sandbox.execute("git reset -q --hard && git clean -fdq", timeout=120)
            continue
        out = sandbox.execute(f"PYTHONDONTWRITEBYTECODE=1 {check.command}", timeout=left)
        found = {check.script: out.returncode == 0} if check.script else outcomes(out.output)
        if out.timed_out:
            record.timed_out.append(check.key)
            found = {k: False for k in found}
        record.results[check.key] = found
        if check.apply:
            sandbox.execute("git reset -q --hard && git clean -fdq", timeout=120)


def _grep(sandbox, word: str, files: list[str]) -> set[str]:
    if not files:
        return set()
    quoted = " ".join(shlex.quote(f) for f in files)
    hits = sandbox.execute(f"grep -lw -- {shlex.quote(word)} {quoted} 2>/dev/null", timeout=120)
    return set(hits.output.split()) & set(files)


def discover(sandbox, modules: list[str], record: Evidence) -> None:
    """The base record's test files and, per changed module, the test files that mention it or a module that
    mentions it (one step of importers: a test of `decorators.py` covers the `keys.py` it imports)."""
    listed = [f for f in sandbox.execute("git ls-files", timeout=120).output.splitlines() if f.endswith(".py")]
    record.test_files = [f for f in listed if is_test_path(f) and (Path(f).name.startswith("test_") or f.endswith("_test.py"))]
    sources = [f for f in listed if not is_test_path(f)]
    for module in modules:
        if module in record.mentions:
            continue
        importers = {Path(f).stem if Path(f).stem != "__init__" else Path(f).parent.name for f in _grep(sandbox, module, sources)}
        found = set()
        for name in {module} | importers:
            found |= _grep(sandbox, name, record.test_files)
        record.mentions[module] = sorted(found)


class Gatherer:
    """Evidence for the candidates of one task, cached in its directory."""

    def __init__(self, config: SelectionConfig, task: Task, task_dir: Path, run_id: str = ""):
        self.config = config
        self.run_id = run_id or RUN_ID
        self.task = blind(task)  # from here on nothing hidden is in reach
        self.files = TaskFiles(task_dir)
        self.spent = 0.0
        """Sandbox seconds spent by the current `gather` (all sandboxes together)."""
        self._lock = threading.Lock()

    def _cached(self) -> dict[str, Evidence]:
        found = {}
        for path in self.files.evidences():
            try:
                record = Evidence.model_validate_json(path.read_text())
            except (OSError, ValidationError):
                continue
            found.setdefault(record.digest, record)
        return found

    def _save(self, record: Evidence) -> None:
        self.files.save(self.files.evidence(record.rollout_id), record)

    def _run(self, record: Evidence, code: str, checks: list[Check], modules: list[str] | None = None) -> Evidence:
        """Run the checks `record` lacks in a fresh sandbox (and test discovery for `modules`, when given)."""
        missing = [c for c in checks if c.key not in record.results]
        if not missing and modules is None:
            return record
        start, record.error = time.monotonic(), ""
        try:
            with open_sandbox(self.task, self.config.sandbox, run_id=self.run_id,
                              name=f"{self.task.instance_id}.evidence.{record.rollout_id}") as sandbox:
                if modules is not None:
                    discover(sandbox, modules, record)
                run_checks(sandbox, code, missing, start + self.config.timeout, record)
        except (SandboxError, OSError) as e:
            log.warning("evidence for %s of %s: %s", record.rollout_id, self.task.instance_id, e)
            record.error = f"the evidence sandbox failed: {e}"
        elapsed = time.monotonic() - start
        record.seconds += elapsed
        with self._lock:
            self.spent += elapsed
        return record

    def base(self, modules: list[str]) -> Evidence:
        """The base commit's record with its test files and the tests mentioning `modules` found."""
        path = self.files.evidence(BASE)
        if path.exists():
            record = Evidence.model_validate_json(path.read_text())
            needed = [m for m in modules if m not in record.mentions]
            if not needed:
                return record
        else:
            record, needed = Evidence(rollout_id=BASE, digest=digest("")), list(modules)
        self._run(record, "", [], needed)
        self._save(record)
        return record

    def _record(self, rid: str, key: str, cached: dict[str, Evidence]) -> Evidence:
        """The saved record of this rollout when it has this code part, else a copy of another with it, else new.
        Sandbox time stays with the record that spent it."""
        own = self.files.evidence(rid)
        if own.exists():
            record = Evidence.model_validate_json(own.read_text())
            if record.digest == key:
                return record
        if key in cached:
            return cached[key].model_copy(deep=True, update={"rollout_id": rid, "seconds": 0.0})
        return Evidence(rollout_id=rid, digest=key)

    def _save_changed(self, record: Evidence) -> None:
        """Save unless the file already holds exactly this (so a record linked from another run stays a link)."""
        path = self.files.evidence(record.rollout_id)
        if not path.exists() or Evidence.model_validate_json(path.read_text()) != record:
            self._save(record)

    def gather(self, candidates: dict[str, str], authors: dict[str, str]) -> TaskEvidence:
        """Evidence for `candidates` (rollout id -> patch), facing the reproductions of `authors` (every rollout)."""
        start, self.spent = time.monotonic(), 0.0
        code = {rid: split(patch)[0] for rid, patch in candidates.items()}
        base = self.base(changed_modules(list(code.values())))
        checks = plan_checks(self.config, self.task.test_runner, base, list(code.values()), authors)
        self._run(base, "", checks)
        self._save_changed(base)
        cached = self._cached()
        records = {rid: self._record(rid, digest(part), cached) for rid, part in code.items()}
        unique: dict[str, str] = {}
        for rid, record in records.items():
            unique.setdefault(record.digest, rid)
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            list(pool.map(lambda rid: self._run(records[rid], code[rid], checks), unique.values()))
        for rid, record in records.items():
            first = records[unique[record.digest]]
            if first is not record and set(record.results) != set(first.results):
                records[rid] = first.model_copy(deep=True, update={"rollout_id": rid, "seconds": 0.0})
            self._save_changed(records[rid])
        log.info("evidence for %s: %d candidates, %d checks, %.1f s", self.task.instance_id, len(records), len(checks),
                 time.monotonic() - start)
        return TaskEvidence(base=base, checks=checks, candidates=records, seconds=self.spent)
