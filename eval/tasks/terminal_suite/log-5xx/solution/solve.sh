#!/bin/bash
set -e
awk '$4 ~ /:10:[0-9][0-9]:[0-9][0-9]$/ && $9 ~ /^5/ {n[$1]++} END {for (ip in n) print n[ip], ip}' /app/logs/access.log \
  | sort -k1,1nr -k2,2 | head -1 | awk '{print $2, $1}' > /app/answer.txt
