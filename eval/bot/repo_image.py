"""A sandbox image of a local git repository at its current commit (the CI bot's task image).

The files of HEAD (never the working tree, so nothing uncommitted or ignored goes in) are committed afresh at
the workdir on a base image; `setup` commands run after that, and whatever they leave untracked is added to
.git/info/exclude, so that a rollout's patch holds only the agent's changes and applies to HEAD. The tag is a
hash of the recipe and of HEAD's tree: an unchanged commit and setup reuse the image.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from pathlib import Path

from codescale.eval.tasks.bundled import GIT_IDENTITY
from codescale.eval.runs.config import ConfigError
from codescale.eval.tasks.images import (
    GIT_TOOLS,
    SYMLINK,
    WORKDIR,
    build_image,
    image_exists,
    run_build,
)

RECIPE_VERSION = "1"
"""Bump when the Dockerfile below changes, so every repository image is rebuilt."""

_DOCKERFILE = """\
FROM {base}
{tools}COPY repo {workdir}
WORKDIR {workdir}
RUN git init -q -b codescale && git add -A -f && {identity} git commit -q --no-verify -m {message}{tree_check}
{setup}RUN git ls-files --others --exclude-standard --directory | sed 's|^|/|' >> .git/info/exclude \\
    && {{ test -z "$(git status --porcelain)" || {{ echo "setup changed tracked files:"; git status --short; exit 1; }}; }}
LABEL codescale.repo={name} codescale.content-hash="{digest}"
STOPSIGNAL SIGKILL
"""


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run git in `repo`; its stdout, or ValueError with git's message."""
    done = subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"git {' '.join(args[:2])} in {repo} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def repo_problem(repo: Path) -> str | None:
    """Why `repo` cannot be used (not a directory, not a git repository, no commit yet), or None."""
    if not Path(repo).is_dir():
        return f"--repo {repo}: no such directory"
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if inside.returncode != 0:
        return f"--repo {repo} is not a git repository"
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True).returncode:
        return f"--repo {repo} is a git repository without any commit"
    return None


def head(repo: Path) -> tuple[str, str]:
    """(HEAD's commit sha, its tree sha)."""
    commit, tree = git(repo, "rev-parse", "HEAD", "HEAD^{tree}").decode().split()
    return commit, tree


def head_files(repo: Path) -> tuple[dict[str, bytes], dict[str, int], bool]:
    """HEAD's files by path; the modes that are not 0644 (0755 executables, SYMLINK); whether it has submodules
    (left out: the image then holds a different tree)."""
    entries, submodules = [], False
    for entry in git(repo, "ls-tree", "-r", "-z", "--full-tree", "HEAD").split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            mode, kind, sha = meta.decode().split()
            if kind == "blob":
                entries.append((path.decode(), int(mode, 8), sha))
            submodules = submodules or kind == "commit"
    out = git(repo, "cat-file", "--batch", data="".join(f"{sha}\n" for _, _, sha in entries).encode())
    files, modes, at = {}, {}, 0
    for path, mode, _ in entries:  # each object: "<sha> blob <size>\n<data>\n"
        newline = out.index(b"\n", at)
        size = int(out[at:newline].split()[2])
        files[path] = out[newline + 1 : newline + 1 + size]
        at = newline + 2 + size
        if mode == 0o100755:
            modes[path] = 0o755
        elif mode == 0o120000:
            modes[path] = SYMLINK
    return files, modes, submodules


def dockerfile(base: str, setup: list[str], name: str, tree: str = "", digest: str = "") -> str:
    """The recipe; with `tree`, the build checks that the image's commit holds exactly HEAD's tree."""
    identity = " ".join(f"{k}={shlex.quote(v)}" for k, v in GIT_IDENTITY.items())
    setup_lines = "".join(f"RUN {json.dumps(['/bin/sh', '-c', command])}\n" for command in setup)
    tree_check = (f' \\\n    && {{ test "$(git rev-parse HEAD^{{tree}})" = {tree} '
                  '|| { echo "the copied files differ from HEAD (a git filter or eol setting?)"; exit 1; }; }')
    tree_check = tree_check if tree else ""
    return _DOCKERFILE.format(
        base=base, tools=GIT_TOOLS, workdir=WORKDIR, identity=identity, message="codescale-base", setup=setup_lines,
        tree_check=tree_check, name=json.dumps(name), digest=digest,
    )


def slug(repo: Path) -> str:
    """A Docker repository name part for `repo`'s folder name."""
    return re.sub(r"[^a-z0-9._-]+", "-", Path(repo).resolve().name.lower()).strip("-._") or "repo"


def build_repo_image(repo: Path, *, base: str, setup: list[str] = (), dockerfile_path: Path | None = None,
                     owner: str = "issue", client=None) -> tuple[str, bool]:
    """The image of `repo` at HEAD on `base` (or on the image `dockerfile_path` builds, its context the working
    tree, as `docker build -f`); returns (tag, whether it was built now). A failed build raises TaskError."""
    import docker

    client = client or docker.from_env()
    _, tree = head(repo)
    name = slug(repo)
    if dockerfile_path is not None:
        recipe = f"{Path(dockerfile_path).read_text()}\0{tree}"
        base = f"codescale-repo/{name}-env:{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"
        if not image_exists(client, base):
            run_build(client, base, owner=owner, base=str(dockerfile_path), path=str(repo),
                      dockerfile=str(Path(dockerfile_path).resolve()))
    recipe = dockerfile(base, list(setup), name, tree)
    digest = hashlib.sha256(f"{RECIPE_VERSION}\0{tree}\0{recipe}".encode()).hexdigest()[:16]
    tag = f"codescale-repo/{name}:{digest}"
    if image_exists(client, tag):
        return tag, False
    files, modes, submodules = head_files(repo)
    text = dockerfile(base, list(setup), name, "" if submodules else tree, digest)
    build_image(client, tag, text, files, owner=owner, base=base, modes=modes)
    return tag, True
