#!/usr/bin/env bash
# Load: LOAD_N requests (default 2000) at concurrency LOAD_CONC (20), bounded to 60 s, mixing
# valid, expired, forged (other key, same kid), bad-signature, wrong-jwt-token, missing,
# unknown-kid, alg none and not-yet-valid tokens. Every request carries x-test-id CLASS-N, so the
# LLM stub's log maps each forwarded request back to its class. Asserts: forwarded without a
# valid token = 0, every valid request answered 200, every other one 401, forwarded = valid.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

LOAD_N=${LOAD_N:-2000}
LOAD_CONC=${LOAD_CONC:-20}
start_stack
write_load_py
MIX=valid:4,expired:1,forged:1,bad-signature:1,wrong-jwt-token:1,missing:1,unknown-kid:1,alg-none:1,not-yet-valid:1

t0=$(date +%s%N)
"$PY" "$T/load.py" --port "$HTTP_PORT" --keys "$T/keys" --n "$LOAD_N" --conc "$LOAD_CONC" \
	--duration 60 --mix "$MIX" --out "$T/load.csv" >"$T/load.log" 2>&1 ||
	diag "load client: $(tail -n 3 "$T/load.log")"
ms=$((($(date +%s%N) - t0) / 1000000))
rep=$(load_report "$T/load.csv" "$T/llm.jsonl")
diag "$LOAD_N requests, concurrency $LOAD_CONC, in $ms ms ($((LOAD_N * 1000 / (ms ? ms : 1))) req/s)" "$rep"

check_eq "sent" "$LOAD_N" "$(kv sent "$rep")"
check_eq "forwarded without a valid token" 0 "$(kv forwarded_without_valid_token "$rep")"
check_eq "forwarded with an unknown x-test-id" 0 "$(kv forwarded_unknown_id "$rep")"
check_eq "every valid request answered 200" 0 "$(kv valid_not_200 "$rep")"
check_eq "forwarded == valid requests" "$(kv sent_valid "$rep")" "$(kv forwarded "$rep")"
for c in expired forged bad-signature wrong-jwt-token missing unknown-kid alg-none not-yet-valid; do
	check_eq "$c: every request answered 401" "$(kv "sent_$c" "$rep")" "$(kv "status_${c}_401" "$rep")"
done
bad_status=$(printf '%s\n' "$rep" | grep -E '^status_' | grep -Ev '^status_valid_200=|^status_[a-z-]+_401=' || true)
check_eq "no other status (no 503, no transport error)" "" "$bad_status"
diag "summary: sent=$(kv sent "$rep") forwarded=$(kv forwarded "$rep") forwarded_without_valid_token=$(kv forwarded_without_valid_token "$rep")"
check_agent_exit
