#!/usr/bin/env bash
# Soak (`make soak`; minutes; not part of `make test`). See tests/soak/README.md.
#
# HAProxy + spoa-jwt + the LLM stub + a rotating JWKS server, for SOAK_SECONDS (default 300):
#   - every request carries a token minted for it (distinct sub/jti, signed on the fly), so the
#     agent's token cache keeps filling and evicting;
#   - the JWKS rotates every SOAK_EPOCH seconds (default 30): epoch n publishes keys n-1, n, n+1
#     and clients sign with key n (an IdP that publishes the next key ahead);
#   - a few expired, forged (key not published, current kid) and missing tokens are mixed in;
#   - agent VmRSS, fd count and threads are sampled every SOAK_SAMPLE seconds (default 5) into
#     build/soak/soak-<date>.csv.
# Asserts: max RSS < SOAK_RSS_MAX_KB (default: threads x 16 MiB, the token cache bound per
# thread (--cache-bytes), + 32 MiB for everything else; 64 MiB on 2 CPUs); fd count does not grow (max of
# the last third <= max of the first third + SOAK_FD_SLACK, default 8); every valid request 200,
# every other 401; nothing reached the LLM without a valid token. Prints the memory curve.
# Environment: SOAK_SECONDS SOAK_EPOCH SOAK_RATE (req/s, default 100) SOAK_CONC (default 4)
# SOAK_SAMPLE SOAK_RSS_MAX_KB SOAK_FD_SLACK; AGENT_BIN (default build/release/spoa-jwt),
# HAPROXY_BIN.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export TOP BUILD=$TOP/build/release
export AGENT_BIN=${AGENT_BIN:-$TOP/build/release/spoa-jwt}
export PY=/usr/bin/python3
# shellcheck source=tests/integ/lib.sh
. "$TOP/tests/integ/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_EPOCH=${SOAK_EPOCH:-30}
SOAK_RATE=${SOAK_RATE:-100}
SOAK_CONC=${SOAK_CONC:-4}
SOAK_SAMPLE=${SOAK_SAMPLE:-5}
SOAK_RSS_MAX_KB=${SOAK_RSS_MAX_KB:-$(((${SOAK_THREADS:-$(nproc)} * 16 + 32) * 1024))}
SOAK_FD_SLACK=${SOAK_FD_SLACK:-8}
OUT_DIR=$TOP/build/soak
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
CSV=$OUT_DIR/soak-$STAMP.csv

diag "soak: ${SOAK_SECONDS} s, JWKS rotation every ${SOAK_EPOCH} s, ${SOAK_RATE} req/s, agent $AGENT_BIN, haproxy $HAPROXY_BIN"

# ---- keys: one RSA key per epoch (+2), JWKS documents jwks-<n>.json
n_keys=$((SOAK_SECONDS / SOAK_EPOCH + 3))
mkdir -p "$T/soak"
"$PY" - "$T/soak" "$n_keys" <<'EOF' || bail "key generation failed"
import json, os, sys
from jwcrypto import jwk
d, n = sys.argv[1], int(sys.argv[2])
pubs = []
for i in range(n + 1):  # key n is never published: the forger's key
    k = jwk.JWK.generate(kty="RSA", size=2048)
    with open(os.path.join(d, "k%d.pem" % i), "wb") as f:
        f.write(k.export_to_pem(private_key=True, password=None))
    p = json.loads(k.export_public())
    p.update({"kid": "soak-%d" % i, "alg": "RS256", "use": "sig"})
    pubs.append(p)
for e in range(n):
    keys = [pubs[i] for i in (e - 1, e, e + 1) if 0 <= i < n]
    with open(os.path.join(d, "jwks-%d.json" % e), "w") as f:
        json.dump({"keys": keys}, f)
EOF

pick_ports
T0=$(now_s)
write_jwks_ctl
jwks_mode "rotate:$T/soak:$T0:$SOAK_EPOCH"
mkdir -p "$T/keys"
start_jwks_ctl "$JWKS_PORT"
JWKS_URI=http://127.0.0.1:$JWKS_PORT/auth/v1
[ -f "$T/cert.pem" ] || make_cert
start_stub llm "$LLM_PORT"
start_stub default "$DEFAULT_PORT"
start_agent "$AGENT_PORT" "$JWKS_URI" --cache-time 5 --max-stale 60 --refetch-interval 5
start_haproxy
warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"

# ---- the load: a token minted per request
cat >"$T/soak_load.py" <<'EOF'
import http.client, os, sys, threading, time, uuid
from jwcrypto import jwk, jwt
d, port, t0, epoch, dur, rate, conc, out = sys.argv[1:9]
t0, epoch, dur, rate, conc = float(t0), float(epoch), float(dur), float(rate), int(conc)
keys = {}
n_keys = len([f for f in os.listdir(d) if f.startswith("jwks-")])
for i in range(n_keys + 1):
    keys[i] = jwk.JWK.from_pem(open(os.path.join(d, "k%d.pem" % i), "rb").read())
FORGER = n_keys
MIX = ["valid"] * 16 + ["expired", "expired", "forged", "missing"]
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
lock = threading.Lock()
rows, counter = [], [0]
t_end = time.time() + dur
interval = conc / rate


def token(cls, now):
    e = min(int((now - t0) / epoch), n_keys - 1)
    claims = {"iss": "https://auth.spoa-jwt.test", "sub": "soak-" + uuid.uuid4().hex[:12],
              "aud": "llm-gateway", "iat": int(now), "exp": int(now) + 600, "jti": uuid.uuid4().hex}
    k, kid = keys[e], "soak-%d" % e
    if cls == "expired":
        claims.update(iat=int(now) - 7200, exp=int(now) - 3600)
    elif cls == "forged":
        k = keys[FORGER]
    t = jwt.JWT(header={"alg": "RS256", "kid": kid, "typ": "JWT"}, claims=claims)
    t.make_signed_token(k)
    return t.serialize()


def worker():
    conn = None
    nxt = time.time()
    while time.time() < t_end:
        with lock:
            i = counter[0]
            counter[0] += 1
        cls = MIX[i % len(MIX)]
        now = time.time()
        h = {"k": "v", "content-type": "application/json", "x-test-id": "%s-%d" % (cls, i)}
        if cls != "missing":
            h["authorization"] = "Bearer " + token(cls, now)
        status = 0
        t_start = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            conn.request("POST", "/v1/chat/completions", body=BODY, headers=h)
            r = conn.getresponse()
            r.read()
            status = r.status
        except Exception:
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            rows.append("%.3f,%.3f,%s,%s-%d,%d" % (t_start, time.time(), cls, cls, i, status))
        nxt += interval
        delay = nxt - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.time()


ths = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
for t in ths:
    t.start()
for t in ths:
    t.join(dur + 30)
with open(out, "w") as f:
    f.write("\n".join(rows) + "\n")
print("soak load sent=%d" % len(rows))
EOF
"$PY" "$T/soak_load.py" "$T/soak" "$HTTP_PORT" "$T0" "$SOAK_EPOCH" "$SOAK_SECONDS" "$SOAK_RATE" \
	"$SOAK_CONC" "$T/load.csv" >"$T/soak_load.log" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

# ---- sampling
echo "t_s,rss_kb,fds,threads,llm_forwarded" >"$CSV"
t_start=$SECONDS
max_samples=$((SOAK_SECONDS / SOAK_SAMPLE + 20))
for ((i = 0; i < max_samples; i++)); do
	kill -0 "$LOAD_PID" 2>/dev/null || break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	echo "$((SECONDS - t_start)),$(proc_rss_kb "$AGENT_PID"),$(proc_fds "$AGENT_PID"),$(awk '/^Threads:/ { print $2 }' "/proc/$AGENT_PID/status"),$(stub_lines llm)" >>"$CSV"
	sleep "$SOAK_SAMPLE"
done
wait_pid_gone "$LOAD_PID" 60 || not_ok "the load client finished"
echo "$((SECONDS - t_start)),$(proc_rss_kb "$AGENT_PID"),$(proc_fds "$AGENT_PID"),$(awk '/^Threads:/ { print $2 }' "/proc/$AGENT_PID/status" 2>/dev/null),$(stub_lines llm)" >>"$CSV"

kill -0 "$AGENT_PID" 2>/dev/null && ok "the agent ran the whole soak" || not_ok "the agent ran the whole soak"
curve=$("$PY" - "$CSV" "$SOAK_RSS_MAX_KB" "$SOAK_FD_SLACK" <<'EOF'
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1]).read().splitlines()[1:] if l.strip()]
rows = [(int(r[0]), int(r[1] or 0), int(r[2] or 0)) for r in rows if r[1]]
bound, slack = int(sys.argv[2]), int(sys.argv[3])
rss = [r[1] for r in rows]
third = max(1, len(rows) // 3)
fd_first, fd_last = max(r[2] for r in rows[:third]), max(r[2] for r in rows[-third:])
print("samples=%d" % len(rows))
print("rss_first_kb=%d" % rss[0])
print("rss_max_kb=%d" % max(rss))
print("rss_last_kb=%d" % rss[-1])
print("rss_max_first_half_kb=%d" % max(rss[: max(1, len(rss) // 2)]))
print("rss_max_second_half_kb=%d" % max(rss[len(rss) // 2:]))
print("fd_max_first_third=%d" % fd_first)
print("fd_max_last_third=%d" % fd_last)
print("rss_ok=%s" % ("yes" if max(rss) < bound else "no"))
print("fd_ok=%s" % ("yes" if fd_last <= fd_first + slack else "no"))
# the curve, one point per ~30 s
step = max(1, len(rows) // 12)
print("curve=" + " ".join("%ds:%dMiB/%dfd" % (r[0], r[1] // 1024, r[2]) for r in rows[::step]))
EOF
)
diag "$curve"
check_eq "agent RSS stays under $SOAK_RSS_MAX_KB KiB (max $(kv rss_max_kb "$curve") KiB)" yes "$(kv rss_ok "$curve")"
check_eq "agent fd count does not grow (first third max $(kv fd_max_first_third "$curve"), last third max $(kv fd_max_last_third "$curve"))" \
	yes "$(kv fd_ok "$curve")"

rep=$(load_report "$T/load.csv" "$T/llm.jsonl")
diag "$(printf '%s\n' "$rep" | grep -Ev '^status_[a-z-]+_(200|401)=' )"
diag "$(printf '%s\n' "$rep" | grep -E '^status_')"
check_eq "forwarded without a valid token" 0 "$(kv forwarded_without_valid_token "$rep")"
check_eq "every valid request answered 200" 0 "$(kv valid_not_200 "$rep")"
check_eq "forwarded == valid requests" "$(kv sent_valid "$rep")" "$(kv forwarded "$rep")"
for c in expired forged missing; do
	check_eq "$c: every request answered 401" "$(kv "sent_$c" "$rep")" "$(kv "status_${c}_401" "$rep")"
done
rotations=$(awk '$2 ~ /^rotate/ && $3 == 200' "$T/jwks-requests.txt" | wc -l)
diag "JWKS fetches served: $rotations; samples in $CSV"
{
	echo "# soak $STAMP: ${SOAK_SECONDS}s, epoch ${SOAK_EPOCH}s, rate ${SOAK_RATE}/s, agent $AGENT_BIN, haproxy $HAPROXY_BIN"
	printf '%s\n' "$curve" "$rep" | sed 's/^/# /'
} >"$OUT_DIR/soak-$STAMP.summary"
check_agent_exit
echo "# summary: $OUT_DIR/soak-$STAMP.summary"
