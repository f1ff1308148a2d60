// Offline validation of rendered Kubernetes objects against the schemas that ship in the
// npm packages `kubernetes-models` (core API) and `@kubernetes-models/prometheus-operator`
// (ServiceMonitor, PrometheusRule), with unknown fields rejected the way
// `kubectl apply --validate=strict` / the API server's strict field validation does.
//
// The packages' validators are ajv functions compiled without `additionalProperties: false`:
// on their own they accept any extra field. A misspelt key is exactly the mistake a chart
// makes (`readOnlyRootFileSystem`, `apiProtocol`), so every object is handed to the validator
// behind a Proxy that records which fields the schema asked for; a field present in an
// object whose schema asked for others but never for it is unknown. Objects whose schema asks
// for nothing (free-form: labels' values, RawExtension) are left alone; maps such as labels
// are enumerated by the validator, so their keys count as read.
//
// The schema modules are loaded by file path, under node_modules: the model classes the
// packages export keep their validator to themselves (and copy the object first, so the
// Proxy would never see the reads), and a file import loads one kind's schema, not every
// model. YAML is parsed with the `yaml` package; @kubernetes/client-node, whose index crashes
// on Node 20, is not needed at all.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");

const validators = new Map();

function modelFile(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (!/^[a-z0-9.]*$/.test(group) || !/^v[0-9a-z]+$/.test(version) || !/^[A-Za-z]+$/.test(kind)) {
    return null;
  }
  const roots =
    group === "monitoring.coreos.com"
      ? [join(modules, "@kubernetes-models/prometheus-operator", group, version)]
      : [join(modules, "kubernetes-models", group === "" ? version : join(group, version))];
  for (const dir of roots) {
    const file = join(dir, `${kind}.mjs`);
    if (existsSync(file)) return file;
  }
  return null;
}

async function validatorFor(apiVersion, kind) {
  const id = `${apiVersion}/${kind}`;
  if (validators.has(id)) return validators.get(id);
  const file = modelFile(String(apiVersion), String(kind));
  let fn = null;
  if (file) {
    const text = readFileSync(file, "utf8");
    const m = text.match(/from\s*"(\.\.?\/[^"]*_schemas\/[A-Za-z0-9]+\.mjs)"/);
    const declared = text.match(/\.apiVersion="([^"]+)",\w+\.kind="([^"]+)"/);
    if (m && declared && declared[1] === apiVersion && declared[2] === kind) {
      const schema = await import(pathToFileURL(join(dirname(file), m[1])).href);
      fn = schema.validate;
    }
  }
  validators.set(id, fn);
  return fn;
}

// Wraps `value` so that every property the validator reads is recorded per object.
function tracked(value, seen) {
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || typeof v !== "object") return v;
    if (proxies.has(v)) return proxies.get(v);
    seen.set(v, new Set());
    const p = new Proxy(v, {
      get(target, key, receiver) {
        if (typeof key === "string") seen.get(target).add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        if (typeof key === "string") seen.get(target).add(key);
        return Reflect.has(target, key);
      },
    });
    proxies.set(v, p);
    return p;
  };
  return wrap(value);
}

function unknownFields(value, seen, path, out) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, seen, `${path}/${i}`, out));
    return;
  }
  const read = seen.get(value);
  if (!read || read.size === 0) return; // free-form, or never reached by the schema
  for (const key of Object.keys(value)) {
    if (!read.has(key)) out.push(`${path}/${key}: unknown field "${key}"`);
    else unknownFields(value[key], seen, `${path}/${key}`, out);
  }
}

// Returns the problems of one object: [] when the schema accepts it.
export async function validateObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not an object"];
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return ["apiVersion and kind are required strings"];
  }
  const fn = await validatorFor(apiVersion, kind);
  if (!fn) return [`no schema for ${apiVersion} ${kind}: an unknown kind, or a version the packages do not know`];
  const copy = structuredClone(obj);
  const seen = new WeakMap();
  const ok = fn(tracked(copy, seen));
  const problems = ok ? [] : (fn.errors || []).map((e) => `${e.instancePath || "/"} ${e.message || e.keyword} ${JSON.stringify(e.params)}`);
  unknownFields(copy, seen, "", problems);
  if (!obj.metadata || typeof obj.metadata.name !== "string" || obj.metadata.name === "") {
    problems.push("/metadata/name: required");
  }
  return problems;
}

// Checks the checker: each kind of mistake a chart can make must be caught. Returns the
// self-test cases that were NOT caught (empty when the validator works).
export async function selfTest() {
  const good = () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "self-test", labels: { app: "x" } },
    spec: {
      selector: { matchLabels: { app: "x" } },
      template: {
        metadata: { labels: { app: "x" } },
        spec: {
          containers: [
            {
              name: "c",
              image: "herald:0",
              ports: [{ name: "ops", containerPort: 9090 }],
              securityContext: { readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    },
  });
  const cases = [];
  cases.push(["a valid Deployment", good(), true]);
  let o = good();
  o.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  cases.push(["an unknown field (readOnlyRootFileSystem)", o, false]);
  o = good();
  o.spec.template.spec.containers[0].ports[0].containerPort = "9090";
  cases.push(["a wrong type (containerPort as a string)", o, false]);
  o = good();
  delete o.spec.template.spec.containers[0].name;
  cases.push(["a missing required field (container name)", o, false]);
  o = good();
  o.spec.strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0, surge: 2 } };
  cases.push(["an unknown field deep inside (rollingUpdate.surge)", o, false]);
  o = good();
  o.kind = "Deploymnet";
  cases.push(["an unknown kind", o, false]);
  cases.push([
    "an unknown field in a ServiceMonitor endpoint",
    { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "s" }, spec: { selector: {}, endpoints: [{ port: "ops", intervall: "30s" }] } },
    false,
  ]);
  const failed = [];
  for (const [what, obj, shouldPass] of cases) {
    const problems = await validateObject(obj);
    if ((problems.length === 0) !== shouldPass) {
      failed.push(`${what}: expected ${shouldPass ? "accepted" : "rejected"}, got ${problems.length ? problems.join("; ") : "accepted"}`);
    }
  }
  return { failed, count: cases.length };
}
