set -e
cd /app/geometry
make clean >/dev/null 2>&1 || true
test ! -e bin/area
make
test "$(bin/area 3 4)" = "12.00"
test "$(bin/area 2.5 -2)" = "5.00"
make clean
test ! -e bin/area
test ! -e build/main.o
