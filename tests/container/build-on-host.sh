#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2086,SC2116,SC1003 # A && pass || fail; word lists split on purpose
# Replays the Dockerfile on the host, without a Docker engine:
#   - stage "build": checks its base image and that every package it installs exists in Debian
#     and is installed here; then, in a temporary directory standing for the image's filesystem,
#     performs its WORKDIR and COPY steps from this checkout and runs its other RUN commands
#     (everything but the apt-get ones) with a clean environment, exactly as written. The binary
#     that the runtime stage copies must come out of it and run.
#   - stage "runtime": every package it installs exists in Debian (apt-cache show); every shared
#     library the built binary needs (ELF NEEDED) belongs to one of those packages or to libc6;
#     files it copies from the build context exist and are not excluded by .dockerignore; it
#     runs as a non-root USER, EXPOSEs 12345, and has a HEALTHCHECK running "spoa-jwt healthcheck".
# Prints "PASS: what" / "FAIL: what" lines (tests/integ/90-container.sh turns them into TAP) and
# exits 1 if any check failed. Usage: tests/container/build-on-host.sh [REPO_DIR]
# KEEP_TMP=1 keeps the temporary directory.
set -u
TOP=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PY:-/usr/bin/python3}
DF=$TOP/Dockerfile
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
note() { printf '%s\n' "$@" | sed 's/^/# /'; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spoa-jwt-dockerbuild.XXXXXX") || exit 2
trap '[ -n "${KEEP_TMP:-}" ] && echo "# kept $tmp" || rm -rf "$tmp"' EXIT

steps() { "$PY" "$TOP/tests/container/dockerfile_steps.py" "$DF" "$1"; }
build_steps=$(steps build) || { fail "Dockerfile has a stage named build"; exit 1; }
runtime_steps=$(steps runtime) || { fail "Dockerfile has a stage named runtime"; exit 1; }

# apt_pkgs "RUN args": the package names after "apt-get install" (options skipped).
apt_pkgs() {
	printf '%s\n' "$1" | sed 's/&&/\n/g' | awk '
		$1 == "apt-get" { inst = 0; for (i = 2; i <= NF; i++) { if ($i == "install") { inst = 1; continue }
			if (inst && $i !~ /^-/) print $i } }'
}

# ------------------------------------------------------------------ build stage
from=$(printf '%s\n' "$build_steps" | awk -F'\t' '$1 == "FROM" { print $2; exit }')
[ "$from" = debian:bookworm ] && pass "build stage is FROM debian:bookworm" || fail "build stage is FROM debian:bookworm (got $from)"

build_pkgs=$(printf '%s\n' "$build_steps" | awk -F'\t' '$1 == "RUN"' | while IFS=$'\t' read -r _ args; do apt_pkgs "$args"; done)
[ -n "$build_pkgs" ] && pass "build stage installs packages: $(echo $build_pkgs)" || fail "build stage installs packages with apt-get"
for p in $build_pkgs; do
	if apt-cache show "$p" >/dev/null 2>&1; then pass "build package $p exists in Debian"; else fail "build package $p exists in Debian (apt-cache show)"; fi
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		pass "build package $p is installed on this host (so the replay below uses it)"
	else
		fail "build package $p is installed on this host (run scripts/deps.sh)"
	fi
done
# scripts/deps.sh's build packages (build-essential, pkg-config, lib*-dev) are in the Dockerfile.
deps_build=$(sed -n '/^PKGS="/,/"$/p' "$TOP/scripts/deps.sh" | tr -d '"\\' | sed 's/^PKGS=//' | tr ' ' '\n' |
	grep -E '^(build-essential|pkg-config|lib.*-dev)$' | grep -v '^libclang')
for p in $deps_build; do
	case " $(echo $build_pkgs) " in
	*" $p "*) pass "build stage installs $p like scripts/deps.sh" ;;
	*) fail "build stage installs $p like scripts/deps.sh" ;;
	esac
done

# The build command is the Makefile's default target: a bare "make".
build_cmds=$(printf '%s\n' "$build_steps" | awk -F'\t' '$1 == "RUN" { print $2 }' | sed 's/&&/\n/g' |
	sed 's/^ *//; s/ *$//' | grep -Ev '^(apt-get|rm -rf /var/lib/apt/lists)')
if printf '%s\n' "$build_cmds" | grep -qx 'make'; then
	pass "build stage runs \"make\" (the Makefile's default target)"
else
	fail "build stage runs \"make\" (the Makefile's default target); its commands: $(echo $build_cmds)"
fi

# Replay: $tmp/fs stands for the image's root; WORKDIR, COPY and non-apt RUN in order.
fs=$tmp/fs
mkdir -p "$fs"
wd=/
replay_ok=1
while IFS=$'\t' read -r ins args; do
	case $ins in
	WORKDIR)
		case $args in /*) wd=$args ;; *) wd=$wd/$args ;; esac
		mkdir -p "$fs$wd"
		;;
	COPY)
		# shellcheck disable=SC2086 # the words of the instruction
		set -- $args
		if [ "${1#--}" != "$1" ]; then fail "build stage COPY without options ($args)"; replay_ok=0; continue; fi
		dst=${*: -1}
		case $dst in /*) ;; *) dst=$wd/$dst ;; esac
		while [ $# -gt 1 ]; do
			src=$TOP/$1
			if [ -d "$src" ]; then
				mkdir -p "$fs$dst" && cp -a "$src/." "$fs$dst/"
			elif [ -f "$src" ]; then
				mkdir -p "$fs$dst" && cp -a "$src" "$fs$dst/"
			else
				fail "COPY source $1 exists"; replay_ok=0
			fi
			shift
		done
		;;
	RUN)
		cmd=$(printf '%s\n' "$args" | sed 's/&&/\n/g' | sed 's/^ *//; s/ *$//' |
			grep -Ev '^(apt-get|rm -rf /var/lib/apt/lists)' | paste -sd'&' - | sed 's/&/ \&\& /g')
		[ -n "$cmd" ] || continue
		# what .dockerignore would have kept out of the context
		find "$fs" \( -name '*.o' -o -name '*.d' \) -delete
		note "RUN (in $wd, clean environment): $cmd"
		t0=$SECONDS
		if (cd "$fs$wd" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME="$tmp" timeout 900 sh -ec "$cmd") >"$tmp/build.log" 2>&1; then
			pass "build stage RUN \"$cmd\" succeeds on the host ($((SECONDS - t0)) s)"
		else
			fail "build stage RUN \"$cmd\" succeeds on the host"
			tail -n 30 "$tmp/build.log" | sed 's/^/#   /'
			replay_ok=0
		fi
		;;
	FROM) ;;
	*) note "build stage: $ins not replayed" ;;
	esac
done <<<"$build_steps"

# ------------------------------------------------------------------ runtime stage
from=$(printf '%s\n' "$runtime_steps" | awk -F'\t' '$1 == "FROM" { print $2; exit }')
[ "$from" = debian:bookworm-slim ] && pass "runtime stage is FROM debian:bookworm-slim" || fail "runtime stage is FROM debian:bookworm-slim (got $from)"
rt_pkgs=$(printf '%s\n' "$runtime_steps" | awk -F'\t' '$1 == "RUN"' | while IFS=$'\t' read -r _ args; do apt_pkgs "$args"; done)
for p in $rt_pkgs; do
	if apt-cache show "$p" >/dev/null 2>&1; then pass "runtime package $p exists in Debian"; else fail "runtime package $p exists in Debian (apt-cache show)"; fi
done
case " $(echo $rt_pkgs) " in *-dev\ *|*build-essential*) fail "runtime stage installs no -dev package or compiler" ;; *) pass "runtime stage installs no -dev package or compiler" ;; esac

bin_from=$(printf '%s\n' "$runtime_steps" | awk -F'\t' '$1 == "COPY" && $2 ~ /^--from=build / { split($2, w, " "); print w[2]; exit }')
bin=$fs$bin_from
if [ "$replay_ok" = 1 ] && [ -n "$bin_from" ] && [ -x "$bin" ]; then
	pass "the binary the runtime stage copies ($bin_from) was built"
	if ver=$("$bin" --version 2>&1); then pass "it runs: $ver"; else fail "it runs (--version): $ver"; fi
	# every NEEDED library belongs to a runtime package (or libc6, in every Debian image)
	for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64|x32|AArch64|libc6,/ { print $NF; exit }')
		[ -n "$path" ] || path=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
		owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
		case " $(echo $rt_pkgs) libc6 " in
		*" $owner "*) pass "$so (package $owner) is installed by the runtime stage" ;;
		*) fail "$so (package ${owner:-unknown}) is installed by the runtime stage" ;;
		esac
	done
else
	fail "the binary the runtime stage copies (${bin_from:-no COPY --from=build}) was built"
fi

# files copied from the build context exist and survive .dockerignore
while IFS=$'\t' read -r ins args; do
	[ "$ins" = COPY ] || continue
	case $args in --from=*) continue ;; esac
	src=${args%% *}
	top=${src%%/*}
	if [ -e "$TOP/$src" ] && ! grep -qxF "$top" "$TOP/.dockerignore" 2>/dev/null && ! grep -qxF "$src" "$TOP/.dockerignore" 2>/dev/null; then
		pass "runtime COPY source $src is in the build context"
	else
		fail "runtime COPY source $src is in the build context (exists, not in .dockerignore)"
	fi
	[ -x "$TOP/$src" ] && pass "$src is executable" || fail "$src is executable"
done <<<"$runtime_steps"

user=$(printf '%s\n' "$runtime_steps" | awk -F'\t' '$1 == "USER" { u = $2 } END { print u }')
case ${user%%:*} in '' | 0 | root) fail "runtime stage runs as a non-root USER (got '${user}')" ;; *) pass "runtime stage runs as non-root USER $user" ;; esac
printf '%s\n' "$runtime_steps" | grep -qP '^EXPOSE\t(.* )?12345(/tcp)?( |$)' && pass "runtime stage EXPOSEs 12345" || fail "runtime stage EXPOSEs 12345"
hc=$(printf '%s\n' "$runtime_steps" | awk -F'\t' '$1 == "HEALTHCHECK" { print $2 }')
case $hc in *'"spoa-jwt", "healthcheck", '*) pass "HEALTHCHECK runs spoa-jwt healthcheck: $hc" ;; *) fail "HEALTHCHECK runs spoa-jwt healthcheck (got: $hc)" ;; esac
printf '%s\n' "$runtime_steps" | grep -q '^ENTRYPOINT	\["' && pass "ENTRYPOINT in exec form" || fail "ENTRYPOINT in exec form"

echo "# $fails failed"
[ "$fails" -eq 0 ]
