#!/bin/bash
mkdir -p /logs/verifier
cd /app/personal-site
if grep -q '<title>About</title>' about.html 2>/dev/null && grep -q '<h1>About me</h1>' about.html; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
