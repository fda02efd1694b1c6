#!/usr/bin/env bash
# Streaming through the gateway: conf/haproxy.cfg with the LLM backend pointed (LLM_ADDR) at
# tests/llm_sse_stub.py, which sends 5 server-sent events 500 ms apart. With a valid token, over
# HTTP/1.1 (plain and TLS) and h2, the client receives every event and [DONE], in order, as
# text/event-stream, and the FIRST event reaches the client before the stub has sent the LAST one
# (timestamps: the stub logs when it flushed each event, the client side stamps each line as it
# arrives), and the arrivals are spread like the sends (nothing buffered the response).
# Also: conf/haproxy.cfg has no response compression or response buffering, and a token that
# fails still gets its 401 before anything is streamed.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

EVENTS=5
INTERVAL=0.5

cfg=$(grep -v '^[[:space:]]*#' "$TOP/conf/haproxy.cfg")
check_not_contains "conf/haproxy.cfg: no compression (it would buffer event streams)" "compression" "$cfg"
check_not_contains "conf/haproxy.cfg: no http-response wait-for-body" "http-response wait-for-body" "$cfg"
check_not_contains "conf/haproxy.cfg: no option http-buffer-response" "http-buffer-response" "$cfg"

pick_ports
make_keys
make_cert
start_nginx "$JWKS_PORT"
"$PY" "$TOP/tests/llm_sse_stub.py" --port "$LLM_PORT" --log "$T/sse.jsonl" --events "$EVENTS" \
	--interval "$INTERVAL" >"$T/stub-sse.log" 2>&1 &
PIDS+=("$!")
wait_port "$LLM_PORT" 10 "$!" || bail "the SSE stub did not listen on $LLM_PORT"
start_stub default "$DEFAULT_PORT"
start_agent "$AGENT_PORT" "$JWKS_URI"
start_haproxy
warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"

RH="$ROUTE_HEADER: $ROUTE_VALUE"
BODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello slowly"}]}'

# stream NAME CURL-ARGS...: curl -N, each line of the body stamped with its arrival time into
# $T/NAME.lines ("unix-time<TAB>line"); headers to $T/NAME.hdr.
stream() {
	local name=$1
	shift
	: >"$T/sse.jsonl"
	curl -sS -N --max-time 20 -D "$T/$name.hdr" -o - "$@" 2>"$T/$name.curlerr" |
		"$PY" -u -c '
import sys, time
for line in sys.stdin.buffer:
    sys.stdout.write("%.6f\t%s\n" % (time.time(), line.decode(errors="replace").rstrip("\n")))
' >"$T/$name.lines"
}

# analyse NAME: prints "events done first_arrival<last_sent spread_ok order_ok"
analyse() {
	"$PY" - "$T/$1.lines" "$T/sse.jsonl" "$EVENTS" "$INTERVAL" <<'EOF'
import json, sys
lines = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if "\t" in l]
sent = {r["event"]: r["sent"] for r in map(json.loads, open(sys.argv[2]))}
n, interval = int(sys.argv[3]), float(sys.argv[4])
data = [(float(t), l[6:]) for t, l in lines if l.startswith("data: ")]
events = [(t, json.loads(d)) for t, d in data if d != "[DONE]"]
done = any(d == "[DONE]" for _, d in data)
parts = [e["choices"][0]["delta"]["content"] for _, e in events]
order = parts == ["part%d " % i for i in range(1, n + 1)]
first_before_last = bool(events) and n in sent and events[0][0] < sent[n]
# arrivals spread like the sends: last - first >= (n - 1) * interval * 0.8
spread = len(events) == n and events[-1][0] - events[0][0] >= (n - 1) * interval * 0.8
lag = max((t - sent.get(i + 1, t)) for i, (t, _) in enumerate(events)) if events and len(sent) >= n else -1
print(len(events), done, first_before_last, spread, order, "%.3f" % (sent[n] - events[0][0] if first_before_last else 0), "%.3f" % lag)
EOF
}

for tr in http1 https1 h2; do
	case $tr in
	http1) url=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1) ;;
	https1) url=https://127.0.0.1:$HTTPS_PORT; flags=(--http1.1 -k) ;;
	h2) url=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k) ;;
	esac
	stream "$tr" "${flags[@]}" -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$BODY" "$url/v1/chat/completions"
	read -r n is_done first spread order ahead lag < <(analyse "$tr")
	status=$(head -1 "$T/$tr.hdr" | tr -d '\r')
	check_contains "$tr: stream answered 200" " 200" "$status"
	case $tr in h2) check_contains "$tr: over HTTP/2" "HTTP/2" "$status" ;; esac
	check_eq "$tr: content-type text/event-stream" text/event-stream \
		"$(tr -d '\r' <"$T/$tr.hdr" | awk -F': ' 'tolower($1) == "content-type" { print $2 }')"
	check_eq "$tr: all $EVENTS events and [DONE], in order" "$EVENTS True True" "$n $is_done $order"
	check_eq "$tr: the first event reached the client before the stub sent the last (by ${ahead}s)" True "$first"
	check_eq "$tr: arrivals spread over the stream (nothing buffered the response)" True "$spread"
	diag "$tr: largest delay between the stub's flush and the client's arrival: ${lag}s"
	check_eq "$tr: the LLM got the provider key, not the token" "Bearer $PROVIDER_API_KEY" \
		"$(tr -d '\r' <"$T/$tr.hdr" | awk -F': ' 'tolower($1) == "x-echo-authorization" { print $2 }')"
done

# a bad token is refused before anything is streamed
: >"$T/sse.jsonl"
req bad --http2 -k -X POST -H "$RH" -H 'Authorization: Bearer wrong-jwt-token' --data "$BODY" \
	"https://127.0.0.1:$HTTPS_PORT/v1/chat/completions"
check_eq "bad token on the streaming request -> 401, nothing sent upstream" "401 0" "$R_STATUS $(wc -l <"$T/sse.jsonl" | tr -d ' ')"

check_agent_exit
