#!/usr/bin/python3
"""Structural checks of conf/docker/compose.yaml and conf/k8s/gateway.yaml (python3-yaml).

    check_manifests.py compose FILE OUTDIR
    check_manifests.py k8s FILE OUTDIR

Prints "PASS: ..." / "FAIL: ..." lines, exit 1 on any failure. Writes into OUTDIR what the shell
test checks next with the real programs: haproxy.env (NAME=value lines: HAProxy's environment in
that deployment) and, for k8s, the files of the ConfigMaps (haproxy.cfg, spoe-jwt.conf,
health.cfg, config.json). These are schema-lite checks: the schemas themselves are checked by
tests/container/validate.js.
"""

import json
import os
import re
import sys

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILS = 0


def check(cond, what):
    global FAILS
    print(("PASS: " if cond else "FAIL: ") + what)
    if not cond:
        FAILS += 1
    return cond


def haproxy_vars():
    """Names of the environment variables conf/haproxy.cfg and conf/spoe-jwt.conf read."""
    names = set()
    for f in ("conf/haproxy.cfg", "conf/spoe-jwt.conf"):
        with open(os.path.join(TOP, f), encoding="utf-8") as fh:
            text = fh.read()
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
        names |= set(re.findall(r"defined\(([A-Z_][A-Z0-9_]*)\)", text))
    return names


def write_env(outdir, env):
    with open(os.path.join(outdir, "haproxy.env"), "w", encoding="utf-8") as f:
        for k, v in env.items():
            f.write("%s=%s\n" % (k, v))


def compose_default(v):
    """${NAME:-default} / ${NAME:?msg} -> a value usable for a check."""
    m = re.fullmatch(r"\$\{([A-Z_0-9]+)(:?-)([^}]*)\}", str(v))
    if m:
        return m.group(3)
    if re.fullmatch(r"\$\{[A-Z_0-9]+:?\?[^}]*\}", str(v)):
        return "set-by-the-operator"
    return str(v)


def check_compose(path, outdir):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    here = os.path.dirname(os.path.abspath(path))
    svcs = doc.get("services", {})
    check(set(svcs) == {"haproxy", "spoa-jwt"}, "compose: two services, haproxy and spoa-jwt (got %s)" % sorted(svcs))
    h, a = svcs.get("haproxy", {}), svcs.get("spoa-jwt", {})
    ctx = os.path.normpath(os.path.join(here, a.get("build", {}).get("context", ".")))
    dockerfile = os.path.join(ctx, a.get("build", {}).get("dockerfile", "Dockerfile"))
    check(os.path.normpath(dockerfile) == os.path.join(TOP, "Dockerfile"), "compose: spoa-jwt is built from the repository's Dockerfile")
    check(a.get("network_mode") == "service:haproxy", "compose: spoa-jwt shares haproxy's network namespace (SPOP on loopback)")
    check("ports" not in a, "compose: spoa-jwt publishes no port")
    aenv = {k: compose_default(v) for k, v in (a.get("environment") or {}).items()}
    henv = {k: compose_default(v) for k, v in (h.get("environment") or {}).items()}
    listen = aenv.get("SPOA_JWT_LISTEN", "")
    check(listen.startswith("127.0.0.1:"), "compose: the agent listens on 127.0.0.1 (%s)" % listen)
    check(henv.get("AGENT_ADDR") == listen, "compose: HAProxy's AGENT_ADDR is the agent's listen address")
    hc = (a.get("healthcheck") or {}).get("test", [])
    check(hc == ["CMD", "spoa-jwt", "healthcheck", listen], "compose: agent healthcheck is spoa-jwt healthcheck %s" % listen)
    check("SPOA_JWT_JWKS_URI" in aenv or "SPOA_JWT_CONFIG" in aenv, "compose: the agent has a key source (SPOA_JWT_JWKS_URI)")
    known = haproxy_vars()
    unknown = sorted(set(henv) - known)
    check(not unknown, "compose: every haproxy environment variable is one conf/haproxy.cfg reads (unknown: %s)" % unknown)
    check(re.search(r"\$\{PROVIDER_API_KEY:\?", str((h.get("environment") or {}).get("PROVIDER_API_KEY", ""))) is not None,
          "compose: PROVIDER_API_KEY comes from the operator's environment, required, never a literal")
    mounts = {}
    for v in h.get("volumes", []):
        src, dst = v.split(":")[:2]
        mounts[dst] = os.path.normpath(os.path.join(here, src))
        check(os.path.exists(mounts[dst]), "compose: volume source %s exists" % src)
    cmd = h.get("command", [])
    cfgs = [cmd[i + 1] for i, w in enumerate(cmd[:-1]) if w == "-f"]
    check(bool(cfgs) and all(c in mounts for c in cfgs), "compose: haproxy -f %s is mounted" % cfgs)
    check(mounts.get(cfgs[0] if cfgs else "") == os.path.join(TOP, "conf/haproxy.cfg"), "compose: the mounted haproxy.cfg is conf/haproxy.cfg")
    check(mounts.get(henv.get("SPOE_CONF")) == os.path.join(TOP, "conf/spoe-jwt.conf"), "compose: SPOE_CONF is the mounted conf/spoe-jwt.conf")
    check(os.path.dirname(henv.get("TLS_CERT", "")) in mounts, "compose: TLS_CERT is in a mounted directory")
    for s, c in (("haproxy", h), ("spoa-jwt", a)):
        check(c.get("read_only") is True and "ALL" in (c.get("cap_drop") or []), "compose: %s has a read-only root and drops all capabilities" % s)
    write_env(outdir, henv)
    return 0


def check_k8s(path, outdir):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = sorted(d["kind"] for d in docs)
    check(kinds == ["ConfigMap", "ConfigMap", "Deployment", "Secret", "Service"],
          "k8s: Secret, 2 ConfigMaps, Deployment, Service (got %s)" % kinds)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    dep = next(d for d in docs if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    ctrs = {c["name"]: c for c in spec["containers"]}
    check(sorted(ctrs) == ["haproxy", "spoa-jwt"], "k8s: one pod with two containers, haproxy and spoa-jwt")
    h, a = ctrs.get("haproxy", {}), ctrs.get("spoa-jwt", {})
    sel = dep["spec"]["selector"]["matchLabels"]
    check(all(pod["metadata"]["labels"].get(k) == v for k, v in sel.items()), "k8s: the Deployment's selector matches its pod labels")

    # volumes -> ConfigMaps / Secrets; mounted files per container
    vols = {v["name"]: v for v in spec.get("volumes", [])}

    def files_of(c):
        out = {}
        for m in c.get("volumeMounts", []):
            v = vols.get(m["name"])
            if not check(v is not None, "k8s: %s mounts volume %s, which exists" % (c["name"], m["name"])):
                continue
            if "configMap" in v:
                cm = by.get(("ConfigMap", v["configMap"]["name"]))
                check(cm is not None, "k8s: ConfigMap %s is in the manifest" % v["configMap"]["name"])
                for k, text in (cm or {}).get("data", {}).items():
                    out[m["mountPath"].rstrip("/") + "/" + k] = text
            check(m.get("readOnly") is True, "k8s: %s mounts %s read-only" % (c["name"], m["mountPath"]))
        return out

    hfiles, afiles = files_of(h), files_of(a)
    henv = {}
    for e in h.get("env", []):
        if "value" in e:
            henv[e["name"]] = e["value"]
        else:
            ref = e.get("valueFrom", {}).get("secretKeyRef", {})
            sec = by.get(("Secret", ref.get("name")))
            check(e["name"] == "PROVIDER_API_KEY" and sec is not None and ref.get("key") in sec.get("stringData", sec.get("data", {})),
                  "k8s: %s comes from Secret %s key %s, which the manifest defines" % (e["name"], ref.get("name"), ref.get("key")))
            henv[e["name"]] = "from-secret"
    aenv = {e["name"]: e.get("value") for e in a.get("env", [])}

    args = h.get("args", []) or h.get("command", [])
    cfgs = [args[i + 1] for i, w in enumerate(args[:-1]) if w == "-f"]
    check(len(cfgs) == 2 and all(c in hfiles for c in cfgs), "k8s: haproxy -f %s come from the ConfigMap" % cfgs)
    check(henv.get("SPOE_CONF") in hfiles, "k8s: SPOE_CONF (%s) comes from the ConfigMap" % henv.get("SPOE_CONF"))
    unknown = sorted(set(henv) - haproxy_vars() - {"HEALTH_BIND"})
    check(not unknown, "k8s: every haproxy env variable is one conf/haproxy.cfg reads (unknown: %s)" % unknown)
    for rel in ("conf/haproxy.cfg", "conf/spoe-jwt.conf"):
        with open(os.path.join(TOP, rel), encoding="utf-8") as f:
            want = "\n".join(l.rstrip() for l in f.read().splitlines()).rstrip("\n")
        got = hfiles.get("/usr/local/etc/haproxy/" + os.path.basename(rel), "")
        check("\n".join(l.rstrip() for l in got.splitlines()).rstrip("\n") == want,
              "k8s: the ConfigMap's %s is %s (python3 conf/k8s/render.py)" % (os.path.basename(rel), rel))

    cfg_path = aenv.get("SPOA_JWT_CONFIG") or "/etc/spoa-jwt/config.json"
    try:
        agent_cfg = json.loads(afiles.get(cfg_path, ""))
    except ValueError as e:
        agent_cfg = {}
        check(False, "k8s: the agent config %s is JSON (%s)" % (cfg_path, e))
    listen = agent_cfg.get("listen", "")
    check(listen.startswith("127.0.0.1:"), "k8s: the agent listens on 127.0.0.1 inside the pod (%s)" % listen)
    check(henv.get("AGENT_ADDR") == listen, "k8s: HAProxy's AGENT_ADDR is the agent's listen address")

    # probes
    hports = {p["name"]: p["containerPort"] for p in h.get("ports", [])}
    aports = {p["name"]: p["containerPort"] for p in a.get("ports", [])}
    for name, c, ports in (("haproxy", h, hports), ("spoa-jwt", a, aports)):
        for kind in ("readinessProbe", "livenessProbe"):
            p = c.get(kind)
            if not check(p is not None, "k8s: %s has a %s" % (name, kind)):
                continue
            if "httpGet" in p:
                check(p["httpGet"]["port"] in ports or p["httpGet"]["port"] in ports.values(),
                      "k8s: %s %s port %s is a declared containerPort" % (name, kind, p["httpGet"]["port"]))
    rp = a.get("readinessProbe", {}).get("exec", {}).get("command")
    check(rp == ["spoa-jwt", "healthcheck", listen], "k8s: agent readiness is a real SPOP check: spoa-jwt healthcheck %s" % listen)
    check(str(hports.get("health")) == henv.get("HEALTH_BIND", "").lstrip(":"), "k8s: HEALTH_BIND matches the health containerPort")
    check(12345 not in hports.values() and 12345 not in aports.values(), "k8s: no containerPort for SPOP")
    check(aenv.get("SPOA_JWT_METRICS", "").endswith(":%s" % aports.get("metrics")), "k8s: SPOA_JWT_METRICS matches the metrics containerPort")

    # security
    check(spec.get("securityContext", {}).get("runAsNonRoot") is True, "k8s: pod runs as non-root")
    for name, c in ctrs.items():
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True and
              "ALL" in sc.get("capabilities", {}).get("drop", []),
              "k8s: %s: no privilege escalation, read-only root, all capabilities dropped" % name)
        check("limits" in c.get("resources", {}) and "requests" in c.get("resources", {}), "k8s: %s has resource requests and limits" % name)

    # Service
    svc = next(d for d in docs if d["kind"] == "Service")
    check(all(pod["metadata"]["labels"].get(k) == v for k, v in svc["spec"]["selector"].items()), "k8s: the Service selects the pods")
    tps = [p["targetPort"] for p in svc["spec"]["ports"]]
    check(tps and all(t in hports for t in tps), "k8s: the Service's targetPorts %s are haproxy's named ports" % tps)

    for path_, text in list(hfiles.items()) + list(afiles.items()):
        with open(os.path.join(outdir, os.path.basename(path_)), "w", encoding="utf-8") as f:
            f.write(text)
    write_env(outdir, henv)
    return 0


def main():
    mode, path, outdir = sys.argv[1:4]
    os.makedirs(outdir, exist_ok=True)
    {"compose": check_compose, "k8s": check_k8s}[mode](path, outdir)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
