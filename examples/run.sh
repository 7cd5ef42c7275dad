#!/bin/sh
# Runs every example in the given build directory, each under a heading.
set -eu
dir=${1:-build/release}
for src in examples/*.c; do
	name=$(basename "$src" .c)
	echo "== examples/$name.c"
	"$dir/examples/$name"
	echo
done
