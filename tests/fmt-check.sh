#!/usr/bin/env bash
# clang-format (the committed .clang-format) on every C file of the agent
# and the codec: one TAP line per file.
cd "$(dirname "$0")/.." || exit 2
command -v clang-format >/dev/null || { echo "not ok 1 - clang-format missing: apt-get install -y clang-format"; exit 1; }
n=0 bad=0
for f in spop/*.[ch] agent/*.[ch]; do
	n=$((n + 1))
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "ok $n - $f is clang-format clean"
	else
		echo "not ok $n - $f differs from clang-format (make fmt)"
		bad=$((bad + 1))
	fi
done
[ "$bad" -eq 0 ]
