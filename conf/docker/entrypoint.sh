#!/bin/sh
# Entrypoint of the spoa-jwt container image (installed as /usr/local/bin/spoa-jwt-entrypoint).
# Turns SPOA_JWT_* environment variables into spoa-jwt flags, then execs spoa-jwt (PID 1, so
# SIGTERM and SIGHUP reach the agent itself).
#
#   docker run IMAGE                        the agent, configured from the environment below
#   docker run IMAGE --log-level debug      the same, extra flags appended
#   docker run IMAGE healthcheck ADDR:PORT  any first argument not starting with "-" is a
#   docker run IMAGE keygen|sign|verify ... spoa-jwt subcommand (or --help, --version): run as is
#
# Agent-wide variables (always applied; a config file's own "listen" etc. win over them):
#   SPOA_JWT_LISTEN       --listen        default 0.0.0.0:12345 (set by the Dockerfile)
#   SPOA_JWT_THREADS      --threads
#   SPOA_JWT_LOG_LEVEL    --log-level     error, warn, info, debug
#   SPOA_JWT_LOG_FORMAT   --log-format    kv or json
#   SPOA_JWT_METRICS      --metrics       ADDR:PORT of /metrics and /healthz (default off)
#   SPOA_JWT_ARGS         more flags, split on white space (no quoting), appended last
#
# Configuration file: SPOA_JWT_CONFIG=FILE (--config FILE); without it, /etc/spoa-jwt/config.json
# is used when it exists (mount it read-only). With a file, the provider variables below are
# refused (spoa-jwt does not mix a config file with provider flags).
#
# One provider named "default" from the environment (when there is no config file):
#   SPOA_JWT_JWKS_URI     --jwks-uri      (one of these three is required)
#   SPOA_JWT_JWKS_FILE    --jwks-file
#   SPOA_JWT_OIDC_DISCOVERY=1  --oidc-discovery (needs SPOA_JWT_ISSUER)
#   SPOA_JWT_ISSUER       --issuer
#   SPOA_JWT_AUDIENCES    --audience, once per word (space- or comma-separated)
#   SPOA_JWT_HEADER       --header
#   SPOA_JWT_PREFIX       --prefix        (set to "" for a bare token)
#   SPOA_JWT_CACHE_TIME   --cache-time    seconds
#   SPOA_JWT_FETCH_TIMEOUT --fetch-timeout milliseconds
#   SPOA_JWT_MAX_STALE    --max-stale     seconds
#   SPOA_JWT_CLOCK_SKEW   --clock-skew    seconds
#   SPOA_JWT_REQUIRE_EXPIRATION=1  --require-expiration
#   SPOA_JWT_MAX_LIFETIME --max-lifetime  seconds
#
# SPOA_JWT_BIN (default spoa-jwt) names the binary; the tests point it at a build on the host.
set -eu

BIN=${SPOA_JWT_BIN:-spoa-jwt}

case ${1:-} in
'' | -*) ;;
*) exec "$BIN" "$@" ;;
esac

die() {
	echo "spoa-jwt-entrypoint: $*" >&2
	exit 2
}

# The command line is built as one string of single-quoted words (POSIX sh has no arrays):
# agent flags, then --config or the provider flags, then SPOA_JWT_ARGS, then the arguments given.
set -f # no globbing when splitting SPOA_JWT_AUDIENCES and SPOA_JWT_ARGS
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cmd=$(q "$BIN")
flag() { cmd="$cmd $(q "$1")"; [ $# -lt 2 ] || cmd="$cmd $(q "$2")"; }
truthy() { case ${1:-} in 1 | true | yes | on) return 0 ;; *) return 1 ;; esac; }

[ -z "${SPOA_JWT_LISTEN:-}" ] || flag --listen "$SPOA_JWT_LISTEN"
[ -z "${SPOA_JWT_THREADS:-}" ] || flag --threads "$SPOA_JWT_THREADS"
[ -z "${SPOA_JWT_LOG_LEVEL:-}" ] || flag --log-level "$SPOA_JWT_LOG_LEVEL"
[ -z "${SPOA_JWT_LOG_FORMAT:-}" ] || flag --log-format "$SPOA_JWT_LOG_FORMAT"
[ -z "${SPOA_JWT_METRICS:-}" ] || flag --metrics "$SPOA_JWT_METRICS"

config=${SPOA_JWT_CONFIG:-}
if [ -z "$config" ] && [ -f /etc/spoa-jwt/config.json ]; then
	config=/etc/spoa-jwt/config.json
fi

provider_vars="JWKS_URI JWKS_FILE OIDC_DISCOVERY ISSUER AUDIENCES HEADER PREFIX CACHE_TIME FETCH_TIMEOUT MAX_STALE CLOCK_SKEW REQUIRE_EXPIRATION MAX_LIFETIME"
if [ -n "$config" ]; then
	for v in $provider_vars; do
		eval "isset=\${SPOA_JWT_$v+x}"
		# shellcheck disable=SC2154 # set by the eval above
		[ -z "$isset" ] || die "SPOA_JWT_$v: provider settings go in the config file $config"
	done
	flag --config "$config"
else
	[ -z "${SPOA_JWT_JWKS_URI:-}" ] || flag --jwks-uri "$SPOA_JWT_JWKS_URI"
	[ -z "${SPOA_JWT_JWKS_FILE:-}" ] || flag --jwks-file "$SPOA_JWT_JWKS_FILE"
	! truthy "${SPOA_JWT_OIDC_DISCOVERY:-}" || flag --oidc-discovery
	[ -z "${SPOA_JWT_ISSUER:-}" ] || flag --issuer "$SPOA_JWT_ISSUER"
	for aud in $(printf '%s' "${SPOA_JWT_AUDIENCES:-}" | tr ',' ' '); do
		flag --audience "$aud"
	done
	[ -z "${SPOA_JWT_HEADER:-}" ] || flag --header "$SPOA_JWT_HEADER"
	[ -z "${SPOA_JWT_PREFIX+x}" ] || flag --prefix "$SPOA_JWT_PREFIX"
	[ -z "${SPOA_JWT_CACHE_TIME:-}" ] || flag --cache-time "$SPOA_JWT_CACHE_TIME"
	[ -z "${SPOA_JWT_FETCH_TIMEOUT:-}" ] || flag --fetch-timeout "$SPOA_JWT_FETCH_TIMEOUT"
	[ -z "${SPOA_JWT_MAX_STALE:-}" ] || flag --max-stale "$SPOA_JWT_MAX_STALE"
	[ -z "${SPOA_JWT_CLOCK_SKEW:-}" ] || flag --clock-skew "$SPOA_JWT_CLOCK_SKEW"
	! truthy "${SPOA_JWT_REQUIRE_EXPIRATION:-}" || flag --require-expiration
	[ -z "${SPOA_JWT_MAX_LIFETIME:-}" ] || flag --max-lifetime "$SPOA_JWT_MAX_LIFETIME"
fi
for a in ${SPOA_JWT_ARGS:-}; do
	flag "$a"
done
for a in "$@"; do
	flag "$a"
done
eval "set -- $cmd"
exec "$@"
