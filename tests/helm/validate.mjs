// node validate.mjs --self-test | FILE.yaml ...
// Validates every object of rendered manifests (tests/helm/run renders them) against the
// Kubernetes and Prometheus operator schemas, unknown fields rejected; prints what it checked.
import { readFileSync } from "node:fs";
import { selfTest, validateObject } from "./k8s-validate.mjs";
import { parseDocuments } from "./render.mjs";

const args = process.argv.slice(2);
let status = 0;
if (args[0] === "--self-test") {
  const { failed, count } = await selfTest();
  if (failed.length) {
    for (const f of failed) console.error(`validator self-test: ${f}`);
    process.exit(1);
  }
  console.log(`validator self-test: ${count} cases (unknown field, wrong type, missing required field, unknown kind, ...) behave`);
  process.exit(0);
}
for (const file of args) {
  const objects = parseDocuments(readFileSync(file, "utf8"));
  const kinds = {};
  for (const o of objects) {
    const problems = await validateObject(o);
    kinds[o.kind] = (kinds[o.kind] || 0) + 1;
    for (const p of problems) {
      console.error(`${file}: ${o.kind} ${o.metadata?.name}: ${p}`);
      status = 1;
    }
  }
  const summary = Object.entries(kinds).sort().map(([k, n]) => `${n} ${k}`).join(", ");
  if (objects.length === 0) {
    console.error(`${file}: no objects`);
    status = 1;
  }
  console.log(`schema-valid (strict): ${file.split("/").pop()}: ${summary}`);
}
process.exit(status);
