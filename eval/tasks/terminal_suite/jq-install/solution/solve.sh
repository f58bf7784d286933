#!/bin/bash
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq >/dev/null
jq -r '.[] | select(.status == "open") | .id' /app/data/tickets.json > /app/open.txt
