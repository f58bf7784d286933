#!/bin/bash
mkdir -p /logs/verifier
if [ "$(cat /workspace/notes/greeting.txt 2>/dev/null)" = "hello from task.toml" ] && [ "$PWD" = /workspace/notes ]; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
