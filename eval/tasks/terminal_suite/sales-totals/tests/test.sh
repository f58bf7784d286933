#!/bin/bash
# Checks the container's end state; writes 1 or 0 to /logs/verifier/reward.txt.
mkdir -p /logs/verifier
if python3 /tests/check_totals.py; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
