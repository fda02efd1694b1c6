#!/usr/bin/env bash
# SPOP abuse from a raw peer (tests/tools/spop_client.py): each case gets the right
# AGENT-DISCONNECT status (../../shared/notes/spop.md §2.10, §4.4) and a close, or is skipped /
# answered where the protocol says so; random byte streams all end; the agent keeps serving a
# connection opened before the abuse and HAProxy's requests (valid token -> 200 afterwards).
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

AGENT_FLAGS="--threads 1" start_stack
RH="$ROUTE_HEADER: $ROUTE_VALUE"
URL=http://127.0.0.1:$HTTP_PORT/v1/chat/completions
req before --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$URL"
check_eq "before: valid token -> 200" 200 "$R_STATUS"

# A peer that holds a connection through the whole abuse, checked at the end.
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" drain --token "$TOKEN_VALID" --count 1 --timeout 60 \
	--ready-file "$T/bystander.ready" >"$T/bystander.out" 2>&1 &
BYSTANDER_PID=$!
PIDS+=("$BYSTANDER_PID")
wait_file "$T/bystander.ready" 5 || bail "bystander did not connect"

# case -> "status closed acks" expected ("none": no DISCONNECT; acks only checked when given).
declare -A EXPECT=(
	[http_get]="3 yes"
	[len_4GiB]="3 yes"
	[len_4GiB_after_hello]="3 yes"
	[len_16381_after_hello]="3 yes"
	[len_16381_header_only]="3 yes"
	[len_16380_ok]="none no 2"
	[len_1025_after_hello_1024]="3 yes"
	[len_below_7]="4 yes"
	[len_zero]="4 yes"
	[unknown_type_fin]="none no 1"
	[unknown_type_no_fin]="10 yes"
	[unset_type_fin]="10 yes"
	[notify_before_hello]="4 yes"
	[ack_type_before_hello]="4 yes"
	[hello_version_1_0]="8 yes"
	[hello_version_3_5]="8 yes"
	[hello_no_versions]="5 yes"
	[hello_no_max_frame_size]="6 yes"
	[hello_max_frame_size_100]="9 yes"
	[hello_no_fin]="10 yes"
	[hello_bad_ids]="4 yes"
	[hello_truncated_kv]="4 yes"
	[second_hello]="4 yes"
	[notify_no_fin]="10 yes"
	[notify_fragmented]="10 yes"
	[notify_abort_only]="10 yes"
	[notify_truncated_payload]="4 yes"
	[notify_bad_varint]="4 yes"
	[notify_other_message]="none no 2"
	[haproxy_disconnect]="0 yes 0"
	[eof_mid_frame]="none yes 0"
)
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" abuse --token "$TOKEN_VALID" >"$T/abuse.out" 2>"$T/abuse.err" ||
	diag "spop_client abuse failed: $(tail -n 3 "$T/abuse.err")"
seen=0
while read -r line; do
	name=$(kv case "$line")
	st=$(kv status "$line")
	closed=$(kv closed "$line")
	acks=$(kv acks "$line")
	case $name in
	random_bytes | random_bytes_after_hello)
		case "$st $closed" in
		"3 yes" | "4 yes" | "10 yes") ok "$name: AGENT-DISCONNECT $st and close" ;;
		*) not_ok "$name: AGENT-DISCONNECT 3, 4 or 10 and close"; diag "got: $line" ;;
		esac
		seen=$((seen + 1))
		continue
		;;
	esac
	[ -n "${EXPECT[$name]+x}" ] || { not_ok "unexpected case line: $line"; continue; }
	read -r e_st e_closed e_acks <<<"${EXPECT[$name]}"
	got="$st $closed"
	want="$e_st $e_closed"
	if [ -n "${e_acks:-}" ]; then got+=" acks=$acks"; want+=" acks=$e_acks"; fi
	check_eq "$name: status closed" "$want" "$got"
	seen=$((seen + 1))
done <"$T/abuse.out"
check_eq "every abuse case ran" $((${#EXPECT[@]} + 2)) "$seen"

out=$("$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" garbage --count 300 --seed 83 2>&1)
diag "$out"
check_eq "300 random byte streams: every connection ended" 300 "$(kv ended "$out")"

kill -0 "$AGENT_PID" 2>/dev/null && ok "the agent is still running" || not_ok "the agent is still running"
out=$("$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" check --token "$TOKEN_VALID" 2>&1)
check_eq "a new raw connection: valid token -> valid=true" true "$(kv valid "$out")"
req after --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$URL"
check_eq "after the abuse: valid token through HAProxy -> 200" 200 "$R_STATUS"
req after-none --http1.1 -X POST -H "$RH" --data "$CHAT_BODY" "$URL"
check_eq "after the abuse: no token -> 401" 401 "$R_STATUS"
check_eq "the LLM got exactly the two valid requests" 2 "$(stub_lines llm)"
check_contains "agent log: protocol errors are logged" "event=spop_error" "$(cat "$T/agent.log")"

# The bystander's connection survived: its ACK came long ago, and SIGTERM now ends it with
# AGENT-DISCONNECT 0.
check_agent_exit
wait_pid_gone "$BYSTANDER_PID" 5
out=$(cat "$T/bystander.out")
check_eq "bystander connection: its ACK, then DISCONNECT 0 at shutdown" "acks=1 valid=1 disconnect=0" \
	"acks=$(kv acks "$out") valid=$(kv valid "$out") disconnect=$(kv disconnect "$out")"
