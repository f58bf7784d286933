#!/bin/bash
set -e
ln -sf /usr/bin/python3 /app/venv/bin/python3
sed -i 's#^home = .*#home = /usr/bin#' /app/venv/pyvenv.cfg
