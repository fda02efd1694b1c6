#!/usr/bin/env bash
# Lints the Dockerfile with two linters from the npm registry (tests/container/package.json):
#   dockerfile-utils  (the linter of the VS Code Docker extension; exit 1 and a line per problem)
#   dockerfilelint    (best practices: tags, apt-get, sudo, ...; exit 1 on any issue)
# and conf/docker/entrypoint.sh with shellcheck when it is installed. Prints each tool's output and
# "PASS: ..."/"FAIL: ..." lines; exits 1 on any problem. Usage: tests/container/lint-dockerfile.sh
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/container/tools.sh
. "$TOP/tests/container/tools.sh"
fails=0
tools_install || { echo "FAIL: install the linters"; exit 1; }

v=$(node -p 'require(process.env.NODE_PATH + "/dockerfile-utils/package.json").version')
out=$("$NPM_BIN/dockerfile-utils" lint "$TOP/Dockerfile" 2>&1); rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# dockerfile-utils: /'
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then echo "PASS: dockerfile-utils $v lint Dockerfile: no problem"; else echo "FAIL: dockerfile-utils $v lint Dockerfile (exit $rc)"; fails=$((fails + 1)); fi

v=$(node -p 'require(process.env.NODE_PATH + "/dockerfilelint/package.json").version')
out=$("$NPM_BIN/dockerfilelint" "$TOP/Dockerfile" 2>&1); rc=$?
printf '%s\n' "$out" | grep -v '^$' | sed 's/^/# dockerfilelint: /'
if [ "$rc" -eq 0 ]; then echo "PASS: dockerfilelint $v Dockerfile: no issue"; else echo "FAIL: dockerfilelint $v Dockerfile (exit $rc)"; fails=$((fails + 1)); fi

# the linters do find problems (a Dockerfile with known faults)
bad=$(mktemp) && printf 'FROM debian\nMAINTAINER x\nRUN sudo apt-get install curl\nHEALTHCHECK CMD\n' >"$bad"
"$NPM_BIN/dockerfile-utils" lint "$bad" >/dev/null 2>&1 && { echo "FAIL: dockerfile-utils flags a faulty Dockerfile"; fails=$((fails + 1)); } || echo "PASS: dockerfile-utils flags a faulty Dockerfile"
"$NPM_BIN/dockerfilelint" "$bad" >/dev/null 2>&1 && { echo "FAIL: dockerfilelint flags a faulty Dockerfile"; fails=$((fails + 1)); } || echo "PASS: dockerfilelint flags a faulty Dockerfile"
rm -f "$bad"

if command -v shellcheck >/dev/null; then
	if out=$(shellcheck -s sh "$TOP/conf/docker/entrypoint.sh" 2>&1); then echo "PASS: shellcheck conf/docker/entrypoint.sh"; else printf '%s\n' "$out" | sed 's/^/# /'; echo "FAIL: shellcheck conf/docker/entrypoint.sh"; fails=$((fails + 1)); fi
else
	echo "# shellcheck not installed: conf/docker/entrypoint.sh not checked"
fi
[ "$fails" -eq 0 ]
