#!/usr/bin/python3
"""The tables of `make bench` (called by tests/bench/run.sh; standard library only).

Inputs: the per-round wrk results (TSV: round case rps p50_us p99_us requests non2xx errors
haproxy_ticks agent_ticks), the fixed-rate lines, verify_bench's lines and `openssl speed -mr`.
Per case: median req/s over the rounds (and min-max), median p50/p99, CPU microseconds per
request = all CPU ticks of the rounds / all requests of the rounds (HAProxy, agent, sum).
"""

import argparse
import re
import statistics


def parse_kv(line):
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", line))


def ms(us):
    return "%.2f" % (us / 1000.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", required=True)
    ap.add_argument("--rate")
    ap.add_argument("--half", type=float, default=0)
    ap.add_argument("--verify")
    ap.add_argument("--speed")
    ap.add_argument("--clk-tck", type=int, default=100)
    ap.add_argument("--names", nargs="*", default=[])
    a = ap.parse_args()
    names = dict(n.split("=", 1) for n in a.names)
    tick_us = 1e6 / a.clk_tck

    rows = {}
    order = []
    with open(a.rounds) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 10:
                continue
            c = p[1]
            if c not in rows:
                rows[c] = []
                order.append(c)
            rows[c].append(dict(round=int(p[0]), rps=float(p[2]), p50=float(p[3]), p99=float(p[4]),
                                reqs=int(p[5]), non2xx=int(p[6]), errs=int(p[7]),
                                hap=int(p[8]), agent=int(p[9])))

    rate = {}
    if a.rate:
        # round <TAB> case <TAB> fixed_rate line; the round with the lowest p99 counts (the
        # least disturbed by the neighbours; rounds alternate between cases like wrk's)
        with open(a.rate) as f:
            for line in f:
                p = line.rstrip("\n").split("\t", 2)
                if len(p) < 3:
                    continue
                c, kv = p[1], parse_kv(p[2])
                if "p99_us" in kv and (c not in rate or float(kv["p99_us"]) < float(rate[c]["p99_us"])):
                    rate[c] = kv

    print("per round (req/s; rounds alternate between cases):")
    for c in order:
        print("  %d %-26s %s" % (int(c), names.get(c, c),
                                 "  ".join("%8.0f" % r["rps"] for r in rows[c])))
    print()

    res = {}
    for c in order:
        rs = rows[c]
        reqs = sum(r["reqs"] for r in rs) or 1
        res[c] = dict(
            rps=statistics.median(r["rps"] for r in rs),
            lo=min(r["rps"] for r in rs), hi=max(r["rps"] for r in rs),
            p50=statistics.median(r["p50"] for r in rs),
            p99=statistics.median(r["p99"] for r in rs),
            hap=sum(r["hap"] for r in rs) * tick_us / reqs,
            agent=sum(r["agent"] for r in rs) * tick_us / reqs,
            bad=sum(r["non2xx"] + r["errs"] for r in rs))
        res[c]["cpu"] = res[c]["hap"] + res[c]["agent"]

    def ratio(c, base):
        return "%.2f" % (res[c]["rps"] / res[base]["rps"]) if base in res and res[base]["rps"] else "-"

    print("HAProxy cases (median of rounds; CPU = utime+stime of all threads / requests; p99@R: open loop "
          "at R = half the no-auth median, best round)")
    hdr = ("case", "req/s", "min-max", "p50 ms", "p99 ms", "CPU us/req hap+agent=sum", "vs 1", "vs 3",
           "p99@%d/s ms" % a.half if a.half else "p99@half", "+p99 vs 1", "errors")
    fmt = "%-30s %8s %15s %7s %7s %26s %5s %5s %19s %9s %6s"
    print(fmt % hdr)
    for c in order:
        r = res[c]
        rr = rate.get(c)
        p99r = ms(float(rr["p99_us"])) if rr else "-"
        if rr and a.half and float(rr.get("rate", 0)) < 0.97 * a.half:
            p99r = "over cap " + p99r
        add = ("%+.2f" % ((float(rr["p99_us"]) - float(rate["1"]["p99_us"])) / 1000.0)
               if rr and "1" in rate else "-")
        cpu = "%.1f+%.1f=%.1f" % (r["hap"], r["agent"], r["cpu"])
        print(fmt % ("%s %s" % (c, names.get(c, "")), "%.0f" % r["rps"], "%.0f-%.0f" % (r["lo"], r["hi"]),
                     ms(r["p50"]), ms(r["p99"]), cpu, ratio(c, "1"), ratio(c, "3"), p99r, add, r["bad"]))
    print()

    # case 6
    # case 6: the best round of each measurement (least disturbed by the neighbours)
    verify = {}
    if a.verify:
        with open(a.verify) as f:
            for line in f:
                kv = parse_kv(line)
                if "alg" not in kv:
                    continue
                best = verify.setdefault(kv["alg"], {})
                for k in ("full", "parse", "raw", "evp"):
                    us = kv.get(k + "_us")
                    if us is not None and (k not in best or float(us) < best[k]):
                        best[k] = float(us)
    speed = {}
    if a.speed:
        with open(a.speed) as f:
            for line in f:
                p = line.strip().split(":")
                # +F2:n:2048:sign/s:verify/s (RSA) +F4:n:256:sign/s:verify/s (ECDSA)
                # +F6:n:253:Ed25519:sign/s:verify/s (EdDSA)
                alg = v = None
                if p[0] == "+F2" and len(p) >= 5 and p[2] == "2048":
                    alg, v = "RS256", float(p[4])
                elif p[0] == "+F4" and len(p) >= 5 and p[2] == "256":
                    alg, v = "ES256", float(p[4])
                elif p[0] == "+F6" and len(p) >= 6 and p[3] == "Ed25519":
                    alg, v = "EdDSA", float(p[5])
                if alg and v > speed.get(alg, 0):
                    speed[alg] = v
    if verify:
        print("6 verify path alone: one thread, us of CPU per operation, best round (verify_bench; "
              "openssl speed -seconds 3)")
        print("  full = jwt_parse + jwt_verify_jwks + jwt_free; parse = jwt_parse + jwt_free; raw = "
              "jws_verify_raw;")
        print("  evp = openssl speed's loop in our process (pre-hashed, context set up once)")
        fmt6 = "%-6s %10s %9s %9s %9s %9s %12s %9s %10s %10s"
        print(fmt6 % ("alg", "full/s", "full us", "parse us", "raw us", "evp us", "openssl/s", "ossl us",
                      "full/ossl", "raw/evp"))
        for alg in ("RS256", "ES256", "EdDSA"):
            v = verify.get(alg)
            if not v or "full" not in v:
                continue
            o = speed.get(alg)
            ous = 1e6 / o if o else None
            f2 = lambda k: "%.1f" % v[k] if k in v else "-"
            print(fmt6 % (alg, "%.0f" % (1e6 / v["full"]), f2("full"), f2("parse"), f2("raw"), f2("evp"),
                          "%.0f" % o if o else "-", "%.1f" % ous if ous else "-",
                          "%.2fx" % (v["full"] / ous) if ous else "-",
                          "%.2fx" % (v["raw"] / v["evp"]) if "evp" in v and "raw" in v else "-"))
        print()

    # targets (issue 4)
    print("targets (issue 4)")

    def line(what, val, goal, ok):
        print("  %-58s %12s  goal %-8s %s" % (what, val, goal, "met" if ok else "MISSED"))

    if "4" in res and "3" in res:
        x = res["4"]["rps"] / res["3"]["rps"]
        line("spoa-jwt one token / null agent req/s", "%.2f" % x, ">= 0.95", x >= 0.95)
        print("  %-58s %12s  (informative: CPU-bound estimate, null / spoa-jwt CPU us/req)" %
              ("  same from CPU per request", "%.2f" % (res["3"]["cpu"] / res["4"]["cpu"])))
    if "5" in res and "2" in res:
        x = res["5"]["rps"] / res["2"]["rps"]
        line("spoa-jwt every request verified / native req/s", "%.2fx" % x, ">= 1.5x", x >= 1.5)
        print("  %-58s %12s  (informative: native / spoa-jwt CPU us/req)" %
              ("  same from CPU per request", "%.2fx" % (res["2"]["cpu"] / res["5"]["cpu"])))
    if "4" in res:
        x = res["4"]["agent"]
        extra = (" (null agent: %.1f us)" % res["3"]["agent"]) if "3" in res else ""
        line("agent CPU per cache hit, whole process%s" % extra, "%.1f us" % x, "<= 2 us", x <= 2.0)
    v, o = verify.get("RS256"), speed.get("RS256")
    if v and o and "full" in v:
        x = v["full"] / (1e6 / o)
        line("RS256 full verification / openssl speed verify time", "%.2fx" % x, "<= 1.2x", x <= 1.2)
    if "5" in res and o:
        x = res["5"]["agent"] / (1e6 / o)
        print("  %-58s %12s  (informative: whole agent process per request)" %
              ("  case 5 agent CPU per request / openssl verify time", "%.2fx" % x))
    if rate and "1" in rate:
        base = float(rate["1"]["p99_us"])
        for c in ("4", "5"):
            if c in rate:
                d = (float(rate[c]["p99_us"]) - base) / 1000.0
                over = float(rate[c].get("rate", 0)) < 0.97 * a.half
                what = "p99 added over no-auth at %d req/s, case %s%s" % (a.half, c, " (over capacity)" if over else "")
                if base > 5000 and not over:
                    # no-auth itself has a p99 of several ms: the machine's scheduling, not ours
                    print("  %-58s %12s  goal %-8s %s" % (what, "%+.2f ms" % d, "<= 1 ms",
                                                          "not judged: no-auth p99 is %.1f ms here" % (base / 1000)))
                else:
                    line(what, "%+.2f ms" % d, "<= 1 ms", d <= 1.0)
    else:
        print("  p99 added at half the no-auth rate: not measured (BENCH_RATE_SECONDS=0 or case 1 not run)")
    spread = max(((r["hi"] - r["lo"]) / r["rps"] for r in res.values() if r["rps"]), default=0)
    if spread > 0.15:
        print("  NOISY machine: req/s varied up to %.0f%% between rounds of one case; req/s ratios closer than "
              "that are not established by this run (CPU us/req is the steadier figure)" % (spread * 100))
    bad = sum(r["bad"] for r in res.values())
    if bad:
        print("  WARNING: %d non-2xx answers or socket errors: those cases did not measure the happy path" % bad)


if __name__ == "__main__":
    main()
