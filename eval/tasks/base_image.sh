#!/usr/bin/env bash
# Make sure the base image the tests and task images build on ($CODESCALE_BASE_IMAGE, default
# codescale/base:bookworm) exists in the running Docker engine; build it once per machine when it does not.
# The one place this image is made, shipped with the package: `codescale tasks base-image` and the demo run it
# (eval/tasks/base_image.py), and so do .ci/docker.sh and the test suite (tests/conftest.py).
#
#   1. the image is there: nothing to do;
#   2. a registry answers: pull python:3.11-slim and add git, patch, procps and pytest to it;
#   3. else: a minimal Debian bookworm made by debootstrap from the apt mirror this machine uses (as root).
# Concurrent runs wait for each other (a lock file), so the image is built once. Progress goes to stdout.
set -euo pipefail

BASE_IMAGE="${CODESCALE_BASE_IMAGE:-codescale/base:bookworm}"
PACKAGES="python3,python3-venv,python3-pip,python3-pytest,git,ca-certificates,patch,procps"
LOCK="${TMPDIR:-/tmp}/codescale-base-image.lock"

have_image() { docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; }

from_registry() {
  echo "base image: pulling python:3.11-slim"
  timeout 300 docker pull -q python:3.11-slim >/dev/null 2>&1 || { echo "base image: no registry answers"; return 1; }
  echo "base image: adding git, patch, procps and pytest to python:3.11-slim"
  printf '%s\n' 'FROM python:3.11-slim' \
    'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git patch procps >/dev/null && rm -rf /var/lib/apt/lists/*' \
    'RUN pip install -q --no-cache-dir pytest' \
    | docker build -q -t "$BASE_IMAGE" - >/dev/null
}

debian_mirror() {
  # The Debian mirror this machine's apt is configured with (never written into the repository).
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
  } | grep -E '/debian/?$' | head -1 || true
}

from_debootstrap() {
  [ "$(id -u)" = 0 ] || { echo "base image: building it with debootstrap needs root; run it as root" >&2; return 1; }
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base image: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local mirror root log
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { echo "base image: no Debian mirror found in the apt sources" >&2; return 1; }
  root=$(mktemp -d)
  log="${TMPDIR:-/tmp}/codescale-debootstrap.log"
  echo "base image: building $BASE_IMAGE with debootstrap (about 75 s; log: $log)"
  if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$mirror" >"$log" 2>&1; then
    tail -20 "$log" >&2; rm -rf "$root"; return 1
  fi
  echo "base image: importing it into Docker"
  tar -C "$root" -c . | docker import - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
}

docker info >/dev/null 2>&1 || { echo "base image: no Docker engine answers" >&2; exit 1; }
exec 9>"$LOCK"
flock 9
if have_image; then
  echo "base image: $BASE_IMAGE is there"
  exit 0
fi
from_registry || from_debootstrap
have_image || { echo "base image: $BASE_IMAGE could not be made" >&2; exit 1; }
echo "base image: $BASE_IMAGE ready"
