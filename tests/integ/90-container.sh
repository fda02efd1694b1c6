#!/usr/bin/env bash
# The container, without a Docker engine:
#   - Dockerfile lint (dockerfile-utils and dockerfilelint from npm; shellcheck on the entrypoint)
#   - tests/container/build-on-host.sh: the build stage's COPY/RUN steps replayed on the host in a
#     temporary tree (the same `make`), the runtime stage's packages exist in Debian and cover the
#     binary's shared libraries, non-root USER, EXPOSE 12345, HEALTHCHECK = spoa-jwt healthcheck
#   - conf/docker/entrypoint.sh on the host: SPOA_JWT_* variables and a config file become a valid
#     agent command line; the agent it execs answers the Dockerfile's HEALTHCHECK command and
#     exits 0 on SIGTERM (it is the process that got the signal: exec, PID 1 in the container)
#   - conf/docker/compose.yaml: the Compose Specification schema (ajv), structural checks, and
#     `haproxy -c` of conf/haproxy.cfg with the compose file's environment for HAProxy
# SKIP_DOCKER_BUILD=1 leaves out the build replay (about a minute).
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck source=tests/container/tools.sh
. "$TOP/tests/container/tools.sh"
if tools_install >"$T/tools.log" 2>&1; then
	ok "linters and validators installed (build/tools/npm, python3-yaml)"
else
	bail "install linters and validators: $(cat "$T/tools.log")"
fi

# ---------------------------------------------------------------- Dockerfile
relay lint bash "$TOP/tests/container/lint-dockerfile.sh"
if [ "${SKIP_DOCKER_BUILD:-0}" = 1 ]; then
	skip "SKIP_DOCKER_BUILD=1: build replay not run"
else
	relay build-on-host bash "$TOP/tests/container/build-on-host.sh" "$TOP"
fi

# ---------------------------------------------------------------- entrypoint on the host
EP=$TOP/conf/docker/entrypoint.sh
read -r P_AGENT P_DEAD P_HTTP < <(free_ports 3)
ep() { env SPOA_JWT_BIN="$AGENT_BIN" "$@"; }

out=$(ep SPOA_JWT_LISTEN="127.0.0.1:$P_AGENT" SPOA_JWT_JWKS_URI="http://127.0.0.1:$P_DEAD/jwks" \
	SPOA_JWT_ISSUER=https://issuer.example SPOA_JWT_AUDIENCES="llm, chat" SPOA_JWT_HEADER=X-Token \
	SPOA_JWT_PREFIX= SPOA_JWT_CACHE_TIME=60 SPOA_JWT_FETCH_TIMEOUT=500 SPOA_JWT_MAX_STALE=30 \
	SPOA_JWT_CLOCK_SKEW=10 SPOA_JWT_REQUIRE_EXPIRATION=1 SPOA_JWT_MAX_LIFETIME=3600 SPOA_JWT_THREADS=1 \
	SPOA_JWT_LOG_LEVEL=debug SPOA_JWT_LOG_FORMAT=json SPOA_JWT_ARGS="--cache-size 10" sh "$EP" -c 2>&1)
check_contains "entrypoint: every SPOA_JWT_* variable maps to a flag the agent accepts" "Configuration is valid" "$out"
out=$(ep SPOA_JWT_CONFIG="$TOP/conf/spoa-jwt.example.json" sh "$EP" -c 2>&1)
check_contains "entrypoint: SPOA_JWT_CONFIG -> --config (conf/spoa-jwt.example.json is valid)" "Configuration is valid" "$out"
out=$(ep SPOA_JWT_CONFIG="$TOP/conf/spoa-jwt.example.json" SPOA_JWT_JWKS_URI=http://x/ sh "$EP" -c 2>&1)
check_eq "entrypoint: a provider variable with a config file is refused (exit 2)" "2 yes" \
	"$? $(case $out in *"provider settings go in the config file"*) echo yes ;; *) echo "no: $out" ;; esac)"
ep sh "$EP" -c >/dev/null 2>&1
check_eq "entrypoint: no key source -> the agent's configuration error (exit 2)" 2 "$?"
out=$(ep sh "$EP" --version 2>&1)
check_contains "entrypoint: flags are passed on (--version)" "spoa-jwt " "$out"

# The Dockerfile's HEALTHCHECK command, with the port of this run.
hc=$("$PY" "$TOP/tests/container/dockerfile_steps.py" "$TOP/Dockerfile" runtime | awk -F'\t' '$1 == "HEALTHCHECK" { sub(/.*CMD /, "", $2); print $2 }')
mapfile -t HC < <("$PY" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$hc")
check_eq "Dockerfile HEALTHCHECK is [spoa-jwt, healthcheck, 127.0.0.1:12345]" "spoa-jwt healthcheck 127.0.0.1:12345" "${HC[*]}"
healthcheck() { "$AGENT_BIN" "${HC[1]}" "$1" >"$T/hc.out" 2>&1; }

SPOA_JWT_BIN=$AGENT_BIN SPOA_JWT_LISTEN=127.0.0.1:$P_AGENT SPOA_JWT_JWKS_URI=http://127.0.0.1:$P_DEAD/jwks \
	SPOA_JWT_THREADS=1 sh "$EP" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
if wait_port "$P_AGENT" 10 "$AGENT_PID"; then
	ok "the agent started by the entrypoint listens on SPOA_JWT_LISTEN"
else
	bail "the agent started by the entrypoint listens on SPOA_JWT_LISTEN"
fi
healthcheck "127.0.0.1:$P_AGENT"
check_eq "HEALTHCHECK command against the agent -> exit 0 (valid AGENT-HELLO)" 0 "$?"
healthcheck "127.0.0.1:$P_DEAD"
rc=$?
check_eq "HEALTHCHECK command against a closed port fails" "fail" "$([ "$rc" -ne 0 ] && echo fail || echo "exit $rc")"
start_stub http "$P_HTTP"
healthcheck "127.0.0.1:$P_HTTP"
rc=$?
check_eq "HEALTHCHECK command against an HTTP server (not SPOP) fails" "fail" "$([ "$rc" -ne 0 ] && echo fail || echo "exit $rc")"
out=$(ep sh "$EP" healthcheck "127.0.0.1:$P_AGENT" 2>&1)
check_eq "entrypoint passes subcommands through (healthcheck)" 0 "$?"
check_agent_exit
check_not_contains "the agent's log has no token or secret" "sk-" "$(cat "$T/agent.log")"

# ---------------------------------------------------------------- compose
COMPOSE=$TOP/conf/docker/compose.yaml
relay "" node "$TOP/tests/container/validate.js" compose "$COMPOSE"
relay "" /usr/bin/python3 "$TOP/tests/container/check_manifests.py" compose "$COMPOSE" "$T/compose"
make_cert
# HAProxy's environment from the compose file; paths inside the container become this checkout's,
# and LLM_ADDR an address (haproxy -c resolves names; no DNS here).
mapfile -t CENV < <(grep -v '^$' "$T/compose/haproxy.env")
out=$(env "${CENV[@]}" TLS_CERT="$T/cert.pem" SPOE_CONF="$TOP/conf/spoe-jwt.conf" LLM_ADDR=127.0.0.1:443 \
	"$HAPROXY_BIN" -c -f "$TOP/conf/haproxy.cfg" 2>&1)
rc=$?
check_eq "compose: haproxy -c with the compose environment ($("$HAPROXY_BIN" -v | awk 'NR == 1 { print $3 }'))" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"
