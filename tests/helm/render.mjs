// Renders helm/herald with a values file (offline: KUBECONFIG=/dev/null, no cluster) and
// parses the documents. Used by validate.mjs and the node --test files.
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
export const chartDir = resolve(here, "../../helm/herald");
export const valuesDir = join(here, "values");
// The form a live API server advertises for a served kind (group/version/kind).
export const monitoringApis = ["monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"];

export function helmPath() {
  const helm = process.env.HELM;
  if (!helm) throw new Error("HELM is not set: run tests/helm/run, or HELM=$(deploy/dev/install-helm | tail -1)");
  return helm;
}

export function helm(args, { allowFailure = false } = {}) {
  try {
    const stdout = execFileSync(helmPath(), args, {
      env: { ...process.env, KUBECONFIG: "/dev/null", HELM_CACHE_HOME: process.env.HELM_CACHE_HOME || "/tmp/herald-helm-cache" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20,
    });
    return { status: 0, stdout, stderr: "" };
  } catch (e) {
    if (!allowFailure) throw new Error(`helm ${args.join(" ")} failed:\n${e.stderr || e.message}`);
    return { status: e.status ?? 1, stdout: e.stdout || "", stderr: e.stderr || "" };
  }
}

// Returns the parsed objects of `helm template`, hooks included.
export function render(valuesFiles = [], { apiVersions = [], set = [], namespace = "herald" } = {}) {
  const args = ["template", "herald", chartDir, "--namespace", namespace];
  for (const f of valuesFiles) args.push("--values", f.includes("/") ? f : join(valuesDir, f));
  for (const a of apiVersions) args.push("--api-versions", a);
  for (const s of set) args.push("--set", s);
  return parseDocuments(helm(args).stdout);
}

export function parseDocuments(text) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
    const o = doc.toJSON();
    if (o !== null && o !== undefined) objects.push(o);
  }
  return objects;
}
