"""`codescale view RUN`: a web viewer over one run directory, served on 127.0.0.1 or written as static files.

The page (configs/viewer/: index.html, dom.js, bracket.js, viewer.js, viewer.css) asks a small JSON API for one thing at a time:

    GET /api/run                          the run and its tasks (eval/analysis/run_pages.py, run_page)
    GET /api/task?id=TASK                 one task: rollouts, brackets, refinement contexts, evidence (task_page)
    GET /api/rollout?task=TASK&id=ROLLOUT one rollout: steps, opening messages, summary (rollout_page.py)

Nothing else is served: no path from a request is ever joined to a file name. A task must be one the run lists and a
rollout one whose trajectory its folder holds. What a model or a command wrote reaches the page as JSON strings,
which the page shows as text only; the Content-Security-Policy allows the page's own script and style and nothing
inline. A request must name 127.0.0.1 or localhost as its host (a page elsewhere cannot reach the viewer by DNS
rebinding). With `--static DIR` the same page reads the same answers from script files beside it
(`codescaleData(key, answer)`), so it opens from the file system without a server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from codescale import configs
from codescale.agent.files import write_atomic
from codescale.eval.analysis.rollout_page import rollout_page
from codescale.eval.analysis.run_pages import run_page, task_page
from codescale.eval.runs.rundir import RecordError, RunDir

log = logging.getLogger(__name__)

ASSETS = configs.DIR / "viewer"
PAGE = {"index.html": "text/html", "dom.js": "text/javascript", "bracket.js": "text/javascript",
        "viewer.js": "text/javascript", "viewer.css": "text/css"}
"""The page's files in configs/viewer/ and their content types: the only files served (`/` is index.html)."""
FILES = {"/": ("index.html", "text/html"), **{f"/{name}": (name, kind) for name, kind in PAGE.items()}}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class NotFound(LookupError):
    """A task or rollout the run does not hold."""


def rollout_ids(run: RunDir, instance_id: str) -> set[str]:
    return {p.name.removesuffix(".traj.json") for p in run.files(instance_id).trajectories()}


def answer(run: RunDir, kind: str, ids: list[str]) -> dict:
    """The API's answer: `run`, `task` [TASK] or `rollout` [TASK, ROLLOUT]; NotFound for anything else."""
    if kind == "run" and not ids:
        return run_page(run)
    if not ids or not run.has_task(ids[0]):
        raise NotFound(f"no task {ids[0] if ids else ''!r} in this run")
    if kind == "task" and len(ids) == 1:
        return task_page(run, ids[0])
    if kind == "rollout" and len(ids) == 2 and ids[1] in rollout_ids(run, ids[0]):
        return rollout_page(run, ids[0], run.trajectory(ids[0], ids[1]))
    raise NotFound(f"no {kind} {'/'.join(ids)!r} in this run")


def _request(path: str, query: dict[str, list[str]]) -> tuple[str, list[str]]:
    """(kind, ids) of an API path and its query."""
    one = lambda name: query.get(name, [""])[0]  # noqa: E731
    kind = path.removeprefix("/api/")
    if kind == "task":
        return kind, [one("id")]
    if kind == "rollout":
        return kind, [one("task"), one("id")]
    return kind, []


def handler(run: RunDir) -> type[BaseHTTPRequestHandler]:
    """The request handler of a viewer over `run`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            port = self.server.server_address[1]
            hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
            if self.headers.get("Host", "") not in hosts:
                return self.send(403, "text/plain", b"this viewer answers only requests for 127.0.0.1 or localhost\n")
            url = urlsplit(self.path)
            if url.path == "/favicon.ico":
                return self.send(204, "image/x-icon", b"")
            if url.path in FILES:
                name, content_type = FILES[url.path]
                return self.send(200, content_type, (ASSETS / name).read_bytes())
            if not url.path.startswith("/api/"):
                return self.send(404, "text/plain", b"not found\n")
            try:
                fresh = RunDir(run.path)  # read anew: a run still going on changes between requests
                data, status = answer(fresh, *_request(url.path, parse_qs(url.query))), 200
            except NotFound as e:
                data, status = {"error": str(e)}, 404
            except RecordError as e:
                data, status = {"error": str(e)}, 500
            except Exception as e:  # a bug: the page says so, the server goes on
                log.exception("viewer: %s", self.path)
                data, status = {"error": f"{type(e).__name__}: {e}"}, 500
            self.send(status, "application/json", json.dumps(data).encode())

        def send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            log.debug("viewer: " + format, *args)

    return Handler


def make_server(run: RunDir, port: int = 0) -> ThreadingHTTPServer:
    """A viewer server over `run` bound to 127.0.0.1:`port` (0: any free port); `serve_forever()` runs it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(run))
    server.daemon_threads = True
    return server


# --- static files ----------------------------------------------------------------------------


def _hex(text: str) -> str:
    return text.encode().hex()


def data_file(kind: str, ids: list[str]) -> str:
    """Where the static page finds an answer: data/run.js, data/<hex task>/task.js, data/<hex task>/<hex rollout>.js
    (viewer.js computes the same names)."""
    if kind == "run":
        return "data/run.js"
    return f"data/{_hex(ids[0])}/" + ("task.js" if kind == "task" else f"{_hex(ids[1])}.js")


def _script(kind: str, ids: list[str], data: dict) -> str:
    key = json.dumps([kind, *ids], separators=(",", ":"), ensure_ascii=False)
    return f"codescaleData({json.dumps(key)}, {json.dumps(data)});\n"


def write_static(run: RunDir, out: Path, say: Callable[[str], None] = lambda _: None) -> int:
    """Write the page and every answer it can ask for into `out`; the number of files written."""
    out = Path(out)
    html = (ASSETS / "index.html").read_text().replace("<html lang=\"en\">", "<html lang=\"en\" data-static=\"1\">", 1)
    write_atomic(out / "index.html", html)
    for name in PAGE.keys() - {"index.html"}:
        write_atomic(out / name, (ASSETS / name).read_text())
    written = len(PAGE)
    requests = [("run", [])]
    for instance_id in run.task_ids():
        requests.append(("task", [instance_id]))
        requests += [("rollout", [instance_id, rid]) for rid in sorted(rollout_ids(run, instance_id))]
    for number, (kind, ids) in enumerate(requests, 1):
        write_atomic(out / data_file(kind, ids), _script(kind, ids, answer(run, kind, ids)))
        written += 1
        if number % 200 == 0:
            say(f"{number} of {len(requests)} pages written")
    return written
