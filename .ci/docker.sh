#!/usr/bin/env bash
# Install and start a Docker engine, then make the base image the tests use (eval/tasks/base_image.sh, which the
# test suite also runs when the image is missing). Idempotent: every step is skipped when its result is there.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/dockerd.log" >&2; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi

bash "$(dirname "$0")/../eval/tasks/base_image.sh"  # the base image: built once per machine
echo "docker ready"
