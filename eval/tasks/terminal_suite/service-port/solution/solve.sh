#!/bin/bash
set -e
cd /app/service
sed -i 's/^port = .*/port = 8080/; s#^file = .*#file = /srv/status/current.txt#' service.ini
