#!/bin/bash
set -e
cd /app/geometry
cat > Makefile <<'EOF'
CC = gcc
CFLAGS = -O2 -Wall -Iinclude
OBJS = build/main.o build/shapes.o

bin/area: $(OBJS)
	mkdir -p bin
	$(CC) -o $@ $(OBJS) -lm

build/%.o: src/%.c
	mkdir -p build
	$(CC) $(CFLAGS) -c $< -o $@

clean:
	rm -rf build bin

.PHONY: clean
EOF
make
