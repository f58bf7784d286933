#!/bin/bash
# Checks the container's end state; writes 1 or 0 to /logs/verifier/reward.txt.
mkdir -p /logs/verifier
if command -v jq >/dev/null && test "$(jq -n '1 + 1')" = 2 \
    && test "$(cat /app/open.txt 2>/dev/null)" = "$(printf '101\n103\n105\n107')"; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
