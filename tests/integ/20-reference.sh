#!/usr/bin/env bash
# The three reference requests (valid token, "wrong-jwt-token", no token) over HTTPS/h2, HTTPS
# HTTP/1.1 and plain HTTP/1.1; the three OpenAI paths; 404 elsewhere on the JWT route; header
# rewrite towards the LLM; requests without the route header reach the default backend unchanged.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
WRONG_MSG='Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'
path=/v1/chat/completions

# one "transport" = scheme, curl flags, expected http_version, host:port
for tr in h2 https1 http1; do
	case $tr in
	h2) base=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k); ver=2; scheme=https ;;
	https1) base=https://127.0.0.1:$HTTPS_PORT; flags=(--http1.1 -k); ver=1.1; scheme=https ;;
	http1) base=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1); ver=1.1; scheme=http ;;
	esac
	hostport=${base#*://}
	realm="Bearer realm=\"$scheme://$hostport$path\""

	# valid token -> 200 from the LLM stand-in, with the provider key instead of the token
	n0=$(stub_lines llm)
	req "$tr-valid" "${flags[@]}" -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$base$path"
	check_eq "$tr: valid token -> 200" 200 "$R_STATUS"
	check_eq "$tr: answered over HTTP/$ver" "$ver" "$R_VERSION"
	check_eq "$tr: valid token -> answer from the llm backend" llm "$(hdr x-stub-name)"
	check_contains "$tr: valid token -> OpenAI chat.completion body" '"object": "chat.completion"' "$R_BODY"
	check_eq "$tr: the LLM received the provider key" "Bearer $PROVIDER_API_KEY" "$(hdr x-echo-authorization)"
	check_eq "$tr: one request forwarded to the LLM" $((n0 + 1)) "$(stub_lines llm)"
	check_eq "$tr: upstream saw exactly one Authorization, the provider key" "['Bearer $PROVIDER_API_KEY']" \
		"$(stub_last llm "h.get('authorization')")"
	check_eq "$tr: upstream got the client's token nowhere" False \
		"$(stub_last llm "any('$TOKEN_VALID' in v for k, v in r['headers'])")"
	check_eq "$tr: upstream got the request body unchanged" "$CHAT_BODY" "$(stub_last llm "r['body']")"

	# wrong-jwt-token -> 401 with the agent's message and error="invalid_token"
	n0=$(stub_lines llm)
	req "$tr-wrong" "${flags[@]}" -X POST -H "$RH" -H 'Authorization: Bearer wrong-jwt-token' \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$base$path"
	check_eq "$tr: wrong-jwt-token -> 401" 401 "$R_STATUS"
	check_eq "$tr: wrong-jwt-token -> answered over HTTP/$ver" "$ver" "$R_VERSION"
	check_eq "$tr: wrong-jwt-token -> body" "$WRONG_MSG" "$R_BODY"
	check_eq "$tr: wrong-jwt-token -> www-authenticate" "$realm, error=\"invalid_token\"" "$(hdr www-authenticate)"
	check_eq "$tr: wrong-jwt-token -> content-type" text/plain "$(hdr content-type)"
	check_eq "$tr: wrong-jwt-token -> content-length" "${#WRONG_MSG}" "$(hdr content-length)"

	# no token -> 401 "Jwt is missing", realm without error
	req "$tr-none" "${flags[@]}" -X POST -H "$RH" -H 'content-type: application/json' \
		--data "$CHAT_BODY" "$base$path"
	check_eq "$tr: no token -> 401" 401 "$R_STATUS"
	check_eq "$tr: no token -> body" "Jwt is missing" "$R_BODY"
	check_eq "$tr: no token -> www-authenticate" "$realm" "$(hdr www-authenticate)"
	check_eq "$tr: no token -> content-type" text/plain "$(hdr content-type)"
	check_eq "$tr: rejected requests never reach the LLM" "$n0" "$(stub_lines llm)"
done

# The realm carries path and query; the host is the client's Host.
req realm-query --http1.1 -X POST -H "$RH" -H 'Host: gw.example:8443' --data "$CHAT_BODY" \
	"http://127.0.0.1:$HTTP_PORT/v1/completions?stream=true&x=1"
check_eq "realm = scheme://host + path and query" 'Bearer realm="http://gw.example:8443/v1/completions?stream=true&x=1"' \
	"$(hdr www-authenticate)"

# All three OpenAI paths, over h2.
for p in /v1/chat/completions /v1/completions /v1/embeddings; do
	req "path${p//\//_}" --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data '{"model":"m","prompt":"hi","input":"hi"}' \
		"https://127.0.0.1:$HTTPS_PORT$p"
	check_eq "POST $p with a valid token -> 200" 200 "$R_STATUS"
	check_eq "POST $p reached the LLM at $p" "$p" "$(stub_last llm "r['path']")"
	req "pathnone${p//\//_}" --http2 -k -X POST -H "$RH" --data '{}' "https://127.0.0.1:$HTTPS_PORT$p"
	check_eq "POST $p without a token -> 401" 401 "$R_STATUS"
done
check_contains "/v1/embeddings answer has the OpenAI list shape" '"object": "embedding"' "$(cat "$T/path_v1_embeddings.body" 2>/dev/null)"

# Any other path on the JWT route -> 404, even with a valid token, and nothing forwarded.
n0=$(stub_lines llm)
for p in /v1/models /v1/chat/completions/x /admin /; do
	req other --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data '{}' \
		"https://127.0.0.1:$HTTPS_PORT$p"
	check_eq "POST $p on the JWT route -> 404" 404 "$R_STATUS"
done
check_eq "404s were not forwarded to the LLM" "$n0" "$(stub_lines llm)"

# Without the route header: default backend, headers untouched, no check.
nl=$(stub_lines llm)
for tr in h2 http1; do
	case $tr in
	h2) url=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k) ;;
	http1) url=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1) ;;
	esac
	req "default-$tr" "${flags[@]}" -X POST -H 'Authorization: Bearer client-secret-token' \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$url/v1/chat/completions"
	check_eq "$tr: no route header -> 200 from the default backend" "200 default" "$R_STATUS $(hdr x-stub-name)"
	check_eq "$tr: default backend got the client's Authorization unchanged" "['Bearer client-secret-token']" \
		"$(stub_last default "h.get('authorization')")"
	req "default-none-$tr" "${flags[@]}" "$url/anything?q=1"
	check_eq "$tr: no route header, no token, any path -> default backend" "200 default" "$R_STATUS $(hdr x-stub-name)"
	check_eq "$tr: default backend got no Authorization" None "$(stub_last default "h.get('authorization')")"
done
req default-wrongval --http1.1 -H "$ROUTE_HEADER: not-$ROUTE_VALUE" -H 'Authorization: Bearer x' \
	"http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
check_eq "route header with another value -> default backend" "200 default" "$R_STATUS $(hdr x-stub-name)"
check_eq "default backend requests never reached the LLM" "$nl" "$(stub_lines llm)"

check_agent_exit
