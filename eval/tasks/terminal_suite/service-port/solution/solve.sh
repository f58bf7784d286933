#!/bin/bash
set -e
cd /app/service
sed -i 's/^port = .*/port = 8080/; s#^file = .*#file = /srv/status/current.txt#' service.ini
nohup python3 server.py >/tmp/status-service.log 2>&1 </dev/null &
for i in $(seq 50); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/status')" 2>/dev/null && break; sleep 0.1; done
