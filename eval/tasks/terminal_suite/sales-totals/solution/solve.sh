#!/bin/bash
set -e
tail -q -n +2 /app/data/sales-*.csv | awk -F, '{t[$1] += $3} END {for (r in t) print r, t[r]}' \
  | sort -k2,2nr -k1,1 > /app/totals.txt
