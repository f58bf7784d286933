set -e
test "$(/app/venv/bin/python -c 'import inventory; print(inventory.count())')" = 3
test "$(/app/venv/bin/python -c 'import sys; print(sys.prefix)')" = /app/venv
/app/venv/bin/python -c 'import inventory; assert inventory.__file__.startswith("/app/venv/")'
