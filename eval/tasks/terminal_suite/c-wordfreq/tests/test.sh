#!/bin/bash
# Checks the container's end state; writes 1 or 0 to /logs/verifier/reward.txt.
mkdir -p /logs/verifier
if bash /tests/check_wordfreq.sh; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
