"""The issue the CI bot fixes: read from plain text or from a GitHub event JSON (`issues`, `issue_comment`)."""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel
from codescale.eval.runs.config import ConfigError


class Issue(BaseModel):
    """An issue as the bot sees it."""

    title: str
    """One line; the first line of a plain-text issue unless given."""
    body: str = ""
    number: int | None = None
    """The GitHub issue number, when the source says."""
    url: str = ""
    """The issue's web page, when the source says."""
    repo: str = ""
    """`owner/name`, when the source says."""

    @property
    def problem_statement(self) -> str:
        """What the agent is given: the title, then the body."""
        return f"{self.title}\n\n{self.body}".strip()

    @property
    def instance_id(self) -> str:
        """The task id in the run directory: `issue-<number>`, or `issue` without a number."""
        return f"issue-{self.number}" if self.number is not None else "issue"


def read_issue(source: str, title: str | None = None) -> Issue:
    """The issue in file `source` (`-` reads standard input); `title` replaces the one found.

    A JSON object with an `issue` member (a GitHub webhook event, as in $GITHUB_EVENT_PATH) or with
    `title` and `body` (as `gh issue view --json title,body,number,url` prints) is read as such; anything
    else is plain text whose first line is the title. Raises ConfigError when the file is missing, empty or
    not UTF-8 text."""
    where = "standard input" if source == "-" else f"issue file {source}"
    try:
        data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()
        text = data.decode("utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {where}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    issue = _from_json(text) or _from_text(text)
    if title:
        issue.title = title.strip()
    if not issue.title and not issue.body:
        raise ConfigError(f"{where} is empty: there is no issue text to work from")
    if not issue.title:
        issue.title = issue.body.strip().splitlines()[0][:120]
    return issue


def _from_text(text: str) -> Issue:
    first, _, rest = text.strip().partition("\n")
    return Issue(title=first.strip().lstrip("# ").strip(), body=rest.strip())


def _from_json(text: str) -> Issue | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    record = data.get("issue") if isinstance(data.get("issue"), dict) else data
    if not isinstance(record, dict) or not ({"title", "body"} & record.keys()):
        return None
    repository = data.get("repository") if isinstance(data.get("repository"), dict) else {}
    number = record.get("number")
    return Issue(
        title=str(record.get("title") or "").strip(),
        body=str(record.get("body") or "").strip(),
        number=number if isinstance(number, int) else None,
        url=str(record.get("html_url") or record.get("url") or ""),
        repo=str(repository.get("full_name") or ""),
    )
