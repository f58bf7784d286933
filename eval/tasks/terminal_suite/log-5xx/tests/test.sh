#!/bin/bash
# Checks the container's end state; writes 1 or 0 to /logs/verifier/reward.txt.
mkdir -p /logs/verifier
if test "$(cat /app/answer.txt 2>/dev/null)" = "10.0.1.58 11"; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
