#!/usr/bin/env bash
# Connection-level faults against the agent (raw peers from tests/tools/spop_client.py), with
# HAProxy traffic checked alongside (a valid token must still get 200, fast):
#   - a reconnect storm: 500 connections at once, HELLO on each, then closed;
#   - half-open connections (part of a HELLO, then FIN) are closed by the agent; an idle
#     connection stays open and can still say HELLO later;
#   - a slowloris peer (one HELLO byte per second, 4 s);
#   - a peer that sends NOTIFYs as fast as it can and never reads: agent RSS stays bounded;
#   - 10,000 concurrent idle TCP connections (or as many as the fd hard limit allows): RSS
#     bounded, other connections unaffected, every fd released afterwards.
# RSS is /proc/PID/status VmRSS. The sanitized agent's ASan quarantine is capped at 16 MiB here
# (ASAN_OPTIONS quarantine_size_mb) so RSS reflects the agent's own memory, not freed blocks
# kept for use-after-free detection.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

IDLE_CONNS=${IDLE_CONNS:-10000}
NOREAD_RSS_MAX_KB=${NOREAD_RSS_MAX_KB:-16384}  # growth allowed while a peer never reads
IDLE_RSS_MAX_KB=${IDLE_RSS_MAX_KB:-32768}      # growth allowed for IDLE_CONNS idle connections
FAST_MS=${FAST_MS:-1000}                       # "fast": a request through HAProxy under this

# fds: the agent and the idle client each need IDLE_CONNS + some.
hard=$(ulimit -Hn)
want=$((IDLE_CONNS + 1000))
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
	diag "fd hard limit $hard < $want: using $((hard - 1000)) idle connections instead of $IDLE_CONNS"
	IDLE_CONNS=$((hard - 1000))
	want=$hard
fi
ulimit -n "$want" || diag "could not raise ulimit -n to $want (soft $(ulimit -n))"
diag "ulimit -n $(ulimit -n) (hard $hard), idle connections: $IDLE_CONNS"

case $(basename "$(dirname "$AGENT_BIN")") in
asan) export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:quarantine_size_mb=16" ;;
esac
start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
URL=http://127.0.0.1:$HTTP_PORT/v1/chat/completions
n_valid=0
# fast_valid WHAT: a valid token through HAProxy -> 200 in under FAST_MS.
fast_valid() {
	local t0 t1 ms
	t0=$(date +%s%N)
	req "fast-$n_valid" --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$URL"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	n_valid=$((n_valid + 1))
	if [ "$R_STATUS" = 200 ] && [ "$ms" -lt "$FAST_MS" ]; then
		ok "$1: valid token through HAProxy -> 200 (${ms} ms)"
	else
		not_ok "$1: valid token through HAProxy -> 200 in under $FAST_MS ms"
		diag "got $R_STATUS in $ms ms"
	fi
}
fast_valid "start"
rss0=$(proc_rss_kb "$AGENT_PID")
fd0=$(proc_fds "$AGENT_PID")
diag "agent at start: VmRSS ${rss0} KiB, ${fd0} fds"

# ---- reconnect storm
out=$("$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" storm --conns 500 --timeout 20 2>&1)
diag "$out"
check_eq "storm: 500 connections, 500 AGENT-HELLOs" "500 500" "$(kv connected "$out") $(kv hello_ok "$out")"
fast_valid "after the storm"

# ---- half-open and idle
out=$("$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" halfopen --idle-seconds 2 2>&1)
diag "$out"
check_eq "half-open: the agent closes the 5 connections that sent part of a HELLO then FIN" 5 \
	"$(kv half_open_closed "$out")"
check_eq "idle: a silent connection stays open, then still gets its AGENT-HELLO" "yes yes" \
	"$(kv idle_open "$out") $(kv idle_then_hello "$out")"

# ---- slowloris, with HAProxy traffic meanwhile
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" slowloris --seconds 4 >"$T/slowloris.out" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
sleep 1.5
fast_valid "during slowloris"
wait_pid_gone "$SLOW_PID" 15 || not_ok "slowloris peer finished"
out=$(cat "$T/slowloris.out")
diag "$out"
check_eq "slowloris: connection kept while bytes trickle, the HELLO is answered at the end" "yes yes" \
	"$(kv open "$out") $(kv hello_after "$out")"

# ---- a peer that never reads
rss_a=$(proc_rss_kb "$AGENT_PID")
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" noread --seconds 4 --token not-a-jwt --hold 30 \
	--ready-file "$T/noread.ready" --stop-file "$T/noread.stop" >"$T/noread.out" 2>&1 &
NOREAD_PID=$!
PIDS+=("$NOREAD_PID")
wait_file "$T/noread.ready" 15 || not_ok "noread peer finished sending"
rss_b=$(proc_rss_kb "$AGENT_PID")
diag "$(cat "$T/noread.out")" "agent VmRSS before ${rss_a} KiB, with the stuck peer ${rss_b} KiB"
n=$(kv notifies "$(cat "$T/noread.out")")
[ "${n:-0}" -gt 1000 ] && ok "noread: the peer pushed $n NOTIFYs before the agent stopped reading" ||
	not_ok "noread: the peer pushed more than 1000 NOTIFYs (${n:-0})"
if [ -n "$rss_b" ] && [ $((rss_b - rss_a)) -lt "$NOREAD_RSS_MAX_KB" ]; then
	ok "noread: agent RSS growth $((rss_b - rss_a)) KiB < $NOREAD_RSS_MAX_KB KiB"
else
	not_ok "noread: agent RSS growth < $NOREAD_RSS_MAX_KB KiB (${rss_a:-?} -> ${rss_b:-?} KiB)"
fi
fast_valid "while a peer does not read"
touch "$T/noread.stop"
wait_pid_gone "$NOREAD_PID" 10 || not_ok "noread peer stopped"

# ---- many idle connections
rss_c=$(proc_rss_kb "$AGENT_PID")
t0=$SECONDS
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" idle --conns "$IDLE_CONNS" --timeout 40 --hold 40 \
	--ready-file "$T/idle.ready" --stop-file "$T/idle.stop" >"$T/idle.out" 2>&1 &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
wait_file "$T/idle.ready" 45 || not_ok "idle peer opened its connections"
opened=$(cat "$T/idle.ready" 2>/dev/null)
diag "$IDLE_CONNS connections opened in $((SECONDS - t0)) s"
check_eq "idle: $IDLE_CONNS connections open at once" "$IDLE_CONNS" "$opened"
# The agent accepts them all (its fd count rises accordingly), bounded wait.
for ((i = 0; i < 100; i++)); do
	fds=$(proc_fds "$AGENT_PID")
	[ "${fds:-0}" -ge $((fd0 + IDLE_CONNS)) ] && break
	sleep 0.1
done
diag "agent holds ${fds} fds"
[ "${fds:-0}" -ge $((fd0 + IDLE_CONNS)) ] && ok "idle: the agent accepted all $IDLE_CONNS" ||
	not_ok "idle: the agent accepted all $IDLE_CONNS (fds ${fds:-?}, at start $fd0)"
rss_d=$(proc_rss_kb "$AGENT_PID")
diag "agent VmRSS before ${rss_c} KiB, with $IDLE_CONNS idle connections ${rss_d} KiB"
if [ -n "$rss_d" ] && [ $((rss_d - rss_c)) -lt "$IDLE_RSS_MAX_KB" ]; then
	ok "idle: agent RSS growth $((rss_d - rss_c)) KiB < $IDLE_RSS_MAX_KB KiB"
else
	not_ok "idle: agent RSS growth < $IDLE_RSS_MAX_KB KiB (${rss_c:-?} -> ${rss_d:-?} KiB)"
fi
fast_valid "with $IDLE_CONNS idle connections"
out=$("$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" check --token "$TOKEN_VALID" 2>&1)
check_eq "with $IDLE_CONNS idle connections: a new raw connection gets valid=true" true "$(kv valid "$out")"
touch "$T/idle.stop"
wait_pid_gone "$IDLE_PID" 30 || not_ok "idle peer closed its connections"
out=$(cat "$T/idle.out")
check_eq "idle: the agent closed none of them while idle" "$IDLE_CONNS" "$(kv still_open "$out")"
for ((i = 0; i < 100; i++)); do
	fds=$(proc_fds "$AGENT_PID")
	[ "${fds:-999999}" -le $((fd0 + 5)) ] && break
	sleep 0.1
done
diag "agent fds after the close: $fds (at start $fd0); VmRSS $(proc_rss_kb "$AGENT_PID") KiB"
[ "${fds:-999999}" -le $((fd0 + 5)) ] && ok "idle: every fd released after the close ($fds)" ||
	not_ok "idle: every fd released after the close ($fds, at start $fd0)"

fast_valid "at the end"
check_eq "the LLM got exactly the valid requests" "$n_valid" "$(stub_lines llm)"
check_agent_exit
