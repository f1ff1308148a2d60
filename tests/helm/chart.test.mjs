// Assertions on the objects helm/herald renders (node --test; tests/helm/run sets HELM).
// What a cluster would do with them (scheduling, probes, policy enforcement) is not checked
// here: docs/deployment.md says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { helm, chartDir, monitoringApis, render, valuesDir } from "./render.mjs";

const valueSets = ["minimal.yaml", "everything-on.yaml", "tls-mtls.yaml"];
const rendered = new Map(valueSets.map((v) => [v, render([v], { apiVersions: monitoringApis })]));
const of = (objects, kind) => objects.filter((o) => o.kind === kind);
const byName = (objects, kind, suffix) => of(objects, kind).find((o) => o.metadata.name.endsWith(suffix));
const podSpecs = (objects) =>
  objects.filter((o) => o.kind === "Deployment" || o.kind === "Job").map((o) => [o, o.spec.template.spec]);
const heraldYaml = (objects) => parse(of(objects, "ConfigMap").find((c) => c.data["herald.yaml"]).data["herald.yaml"]);

for (const [values, objects] of rendered) {
  test(`${values}: every container runs as 65532 with a read-only root, no privilege and /tmp on an emptyDir`, () => {
    const pods = podSpecs(objects);
    assert.ok(pods.length >= 3, "a Deployment per role");
    for (const [owner, pod] of pods) {
      const where = `${owner.kind} ${owner.metadata.name}`;
      assert.equal(pod.automountServiceAccountToken, false, `${where}: no service account token`);
      assert.equal(pod.securityContext.runAsNonRoot, true, where);
      assert.equal(pod.securityContext.runAsUser, 65532, where);
      assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault", where);
      const tmp = pod.volumes.find((v) => v.name === "tmp");
      assert.ok(tmp && tmp.emptyDir, `${where}: /tmp is an emptyDir`);
      for (const c of [...(pod.initContainers || []), ...pod.containers]) {
        const sc = c.securityContext;
        assert.equal(sc.runAsNonRoot, true, `${where}/${c.name}`);
        assert.equal(sc.runAsUser, 65532, `${where}/${c.name}`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where}/${c.name}`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name}`);
        assert.deepEqual(sc.capabilities.drop, ["ALL"], `${where}/${c.name}`);
        assert.equal(sc.capabilities.add, undefined, `${where}/${c.name}`);
        assert.equal(sc.seccompProfile.type, "RuntimeDefault", `${where}/${c.name}`);
        assert.ok(c.volumeMounts.some((m) => m.name === "tmp" && m.mountPath === "/tmp"), `${where}: /tmp mounted`);
        // kubelet never updates a subPath mount: renewed certificates and rotated keys would not arrive.
        assert.ok(c.volumeMounts.every((m) => !m.subPath), `${where}: no subPath mounts`);
      }
    }
    const sa = of(objects, "ServiceAccount");
    assert.equal(sa.length, 1);
    assert.equal(sa[0].automountServiceAccountToken, false);
    for (const d of of(objects, "Deployment")) {
      assert.equal(d.spec.template.spec.serviceAccountName, sa[0].metadata.name);
    }
  });

  test(`${values}: probes ask the ops listener, liveness never the database`, () => {
    const config = heraldYaml(objects);
    const tls = Boolean(config.tls?.cert_file) && !(config.tls.plaintext_listeners || []).includes("ops");
    for (const d of of(objects, "Deployment")) {
      const c = d.spec.template.spec.containers[0];
      const where = d.metadata.name;
      for (const p of c.ports) assert.match(p.name, /^[a-z][-a-z0-9]{0,14}$/, `${where}: named port`);
      assert.ok(c.ports.some((p) => p.name === "ops" && p.containerPort === 9090), `${where}: ops port in every role`);
      for (const probe of ["startupProbe", "livenessProbe"]) {
        assert.equal(c[probe].httpGet.path, "/healthz", `${where} ${probe}`);
        assert.equal(c[probe].httpGet.port, "ops", `${where} ${probe}`);
        assert.equal(c[probe].httpGet.scheme, tls ? "HTTPS" : "HTTP", `${where} ${probe}`);
      }
      if (c.readinessProbe.grpc) {
        assert.ok(where.endsWith("-api"), "only the api role may probe gRPC");
        assert.equal(c.readinessProbe.grpc.port, 50051);
      } else {
        assert.equal(c.readinessProbe.httpGet.path, "/readyz", where);
        assert.equal(c.readinessProbe.httpGet.port, "ops", where);
      }
      const roles = c.env.find((e) => e.name === "HERALD_ROLES").value;
      assert.ok(where.endsWith(`-${roles}`), `${where}: one role per Deployment`);
    }
    const api = byName(objects, "Service", "-api");
    assert.equal(api.spec.ports.find((p) => p.name === "grpc").appProtocol, "grpc");
    assert.equal(api.spec.type, "ClusterIP", "the APIs stay private");
    for (const s of of(objects, "Service")) {
      for (const p of s.spec.ports) assert.equal(typeof p.targetPort, "string", `${s.metadata.name}: named targetPort`);
    }
  });

  test(`${values}: no Secret is rendered and secrets reach pods only by reference`, () => {
    assert.deepEqual(of(objects, "Secret"), []);
    const secretish = /SECRET|PASSWORD|TOKEN|_KEYS$|DATABASE_URL/;
    for (const [owner, pod] of podSpecs(objects)) {
      for (const c of pod.containers) {
        for (const e of c.env || []) {
          if (secretish.test(e.name) && !(owner.kind === "Job" && e.name === "HERALD_DATABASE_URL")) {
            assert.ok(e.valueFrom && e.valueFrom.secretKeyRef, `${owner.metadata.name}: ${e.name} from a Secret`);
            assert.equal(e.value, undefined);
          }
        }
      }
    }
    const config = JSON.stringify(heraldYaml(objects));
    assert.doesNotMatch(config, /password=|:\/\/[^/@]*:[^/@]*@/i, "no password in herald.yaml");
  });

  test(`${values}: herald.yaml points at the mounted files and every listener is reachable or loopback`, () => {
    const config = heraldYaml(objects);
    const d = byName(objects, "Deployment", "-api");
    const mounts = d.spec.template.spec.containers[0].volumeMounts.map((m) => m.mountPath);
    const mounted = (file) => mounts.some((m) => file.startsWith(`${m}/`));
    assert.ok(mounted(config.suppression_keys_file), config.suppression_keys_file);
    if (config.link_keys_file) assert.ok(mounted(config.link_keys_file));
    for (const key of ["cert_file", "key_file", "client_ca_file"]) {
      if (config.tls && config.tls[key]) assert.ok(mounted(config.tls[key]), `tls.${key} is mounted`);
    }
    const sslrootcert = /sslrootcert=(\S+)/.exec(config.database?.url || "");
    if (sslrootcert) assert.ok(mounted(sslrootcert[1]), "the PostgreSQL CA is mounted");
    assert.equal(config.ops.listen, "0.0.0.0:9090");
    assert.equal(config.roles, undefined, "roles come from each Deployment's HERALD_ROLES");
    const checksum = d.spec.template.metadata.annotations["checksum/config"];
    assert.match(checksum, /^[0-9a-f]{64}$/);
  });

  test(`${values}: renders strictly schema-valid objects only once (no duplicate names per kind)`, () => {
    const seen = new Set();
    for (const o of objects) {
      const id = `${o.kind}/${o.metadata.name}`;
      assert.ok(!seen.has(id), `duplicate ${id}`);
      seen.add(id);
    }
  });
}

test("HPA on: the Deployment has no replicas; HPA off: it has", () => {
  const objects = rendered.get("everything-on.yaml");
  const hpas = of(objects, "HorizontalPodAutoscaler");
  assert.deepEqual(hpas.map((h) => h.metadata.name.split("-").pop()).sort(), ["api", "web"]);
  for (const h of hpas) {
    assert.equal(h.apiVersion, "autoscaling/v2");
    const d = of(objects, "Deployment").find((x) => x.metadata.name === h.spec.scaleTargetRef.name);
    assert.ok(d, h.spec.scaleTargetRef.name);
    assert.equal("replicas" in d.spec, false, `${d.metadata.name} leaves replicas to the HPA`);
  }
  assert.equal(byName(objects, "Deployment", "-worker").spec.replicas, 3);
  for (const d of of(rendered.get("minimal.yaml"), "Deployment")) assert.equal(d.spec.replicas, 2);
  assert.equal(of(rendered.get("minimal.yaml"), "HorizontalPodAutoscaler").length, 0);
  assert.equal(of(rendered.get("minimal.yaml"), "PodDisruptionBudget").length, 3);
});

test("the Ingress carries the public pages and the SMS hooks, to the web role's public port only", () => {
  const objects = rendered.get("everything-on.yaml");
  const [ing] = of(objects, "Ingress");
  assert.ok(ing, "an Ingress");
  const web = byName(objects, "Service", "-web").metadata.name;
  const paths = ing.spec.rules.flatMap((r) => r.http.paths);
  for (const p of ["/u/", "/p/", "/hooks/sms/"]) assert.ok(paths.some((x) => x.path === p), `path ${p}`);
  for (const p of paths) {
    assert.equal(p.backend.service.name, web);
    assert.equal(p.backend.service.port.name, "http");
    assert.doesNotMatch(p.path, /^\/(v1|hooks\/email)/, "no JSON API, no mail hook");
  }
  assert.equal(of(rendered.get("minimal.yaml"), "Ingress").length, 0);
  const mail = byName(objects, "Service", "-mail");
  assert.ok(mail, "the mail hook has a Service of its own");
  assert.deepEqual(mail.spec.ports.map((p) => p.name), ["mail"]);
});

test("ServiceMonitor and PrometheusRule only where the cluster serves them", () => {
  const without = render(["everything-on.yaml"]);
  assert.equal(of(without, "ServiceMonitor").length, 0);
  assert.equal(of(without, "PrometheusRule").length, 0);
  const objects = rendered.get("everything-on.yaml");
  const [sm] = of(objects, "ServiceMonitor");
  assert.equal(sm.spec.endpoints[0].port, "ops");
  assert.equal(sm.spec.endpoints[0].scheme, "https");
  assert.equal(sm.spec.endpoints[0].authorization.credentials.name, "herald-metrics-token");
  const [rule] = of(objects, "PrometheusRule");
  const alerts = rule.spec.groups.flatMap((g) => g.rules).map((r) => r.alert);
  for (const a of ["HeraldOutboxNotDraining", "HeraldProviderCircuitOpen", "HeraldCrmWritebackParkedOnAuth", "HeraldPrivacyRequestOverdue", "HeraldCampaignComplaintRateHigh"]) {
    assert.ok(alerts.includes(a), a);
  }
  const complaint = rule.spec.groups[0].rules.find((r) => r.alert === "HeraldCampaignComplaintRateHigh");
  assert.match(complaint.expr, /herald_campaign_complaint_rate\{[^}]*\}\) > 0\.001/);
});

test("the Grafana dashboard is valid JSON with the panels an operator needs", () => {
  const cm = byName(rendered.get("minimal.yaml"), "ConfigMap", "-dashboard");
  assert.equal(cm.metadata.labels.grafana_dashboard, "1");
  const dash = JSON.parse(cm.data["herald.json"]);
  const titles = dash.panels.map((p) => p.title).join(" | ");
  for (const t of [/Gate decisions by reason/, /Campaign progress/, /Outbox depth/, /Outbox oldest/, /Provider outcomes/, /CRM write-back queue/]) {
    assert.match(titles, t);
  }
});

test("NetworkPolicy: egress only to the destinations the values name", () => {
  const [np] = of(rendered.get("everything-on.yaml"), "NetworkPolicy");
  assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
  const ports = np.spec.egress.flatMap((e) => e.ports.map((p) => p.port)).sort((a, b) => a - b);
  assert.deepEqual(ports, [53, 53, 443, 443, 443, 587, 5432]);
  assert.ok(np.spec.egress.every((e) => e.to && e.to.length), "every egress rule names its destination");
  assert.equal(of(rendered.get("minimal.yaml"), "NetworkPolicy").length, 0);
});

test("the migration hook Job runs before install and upgrade on existing Secrets only", () => {
  const objects = rendered.get("everything-on.yaml");
  const [job] = of(objects, "Job");
  assert.equal(job.metadata.annotations["helm.sh/hook"], "pre-install,pre-upgrade");
  const pod = job.spec.template.spec;
  assert.deepEqual(pod.containers[0].args.slice(0, 1), ["migrate"]);
  const own = new Set(objects.filter((o) => o !== job).map((o) => `${o.kind}/${o.metadata.name}`));
  for (const v of pod.volumes) {
    if (v.configMap) assert.ok(!own.has(`ConfigMap/${v.configMap.name}`), "no ConfigMap of the release");
  }
  assert.equal(pod.serviceAccountName, undefined, "no ServiceAccount of the release");
  // Without herald.yaml no provider is configured, and heraldd refuses a provider's variable
  // it cannot place: the Job gets the database's and the key ring's settings only.
  const names = pod.containers[0].env.map((e) => e.name).sort();
  assert.deepEqual(names, ["HERALD_DATABASE_URL", "HERALD_SUPPRESSION_KEYS_FILE", "PGPASSWORD"]);
  assert.equal(of(rendered.get("minimal.yaml"), "Job").length, 0);
});

test("mTLS values mount the client CA and name it in herald.yaml", () => {
  const objects = rendered.get("tls-mtls.yaml");
  const config = heraldYaml(objects);
  assert.equal(config.tls.client_ca_file, "/etc/herald/client-ca/ca.crt");
  assert.deepEqual(config.tls.client_cert_listeners, ["grpc", "json_api"]);
  assert.deepEqual(config.tls.plaintext_listeners, ["http"]);
  assert.equal(config.link_keys_file, undefined, "the link ring follows the suppression ring");
  const pod = byName(objects, "Deployment", "-api").spec.template.spec;
  assert.equal(pod.volumes.find((v) => v.name === "client-ca").secret.secretName, "herald-client-ca");
  const [sm] = of(objects, "ServiceMonitor");
  assert.equal(sm.spec.endpoints[0].tlsConfig.ca.secret.name, "herald-internal-ca");
});

test("a changed herald.yaml changes checksum/config", () => {
  const sum = (objects) => byName(objects, "Deployment", "-api").spec.template.metadata.annotations["checksum/config"];
  const a = sum(rendered.get("minimal.yaml"));
  const b = sum(render(["minimal.yaml"], { set: ["config.log_level=debug"] }));
  assert.notEqual(a, b);
  const cm = of(rendered.get("minimal.yaml"), "ConfigMap").find((c) => c.data["herald.yaml"]);
  assert.equal(a, createHash("sha256").update(cm.data["herald.yaml"].replace(/\n$/, "")).digest("hex"));
});

test("every bad-*.yaml values file is refused by values.schema.json", () => {
  const bad = readdirSync(valuesDir).filter((f) => /^bad-.*\.yaml$/.test(f));
  assert.ok(bad.length >= 1);
  for (const f of bad) {
    const r = helm(["template", "herald", chartDir, "--values", `${valuesDir}/${f}`], { allowFailure: true });
    assert.notEqual(r.status, 0, `${f} must be refused`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/, f);
    // Each file says which refusals it must cause (`# expect: <line of helm's report>`).
    const expected = readFileSync(`${valuesDir}/${f}`, "utf8").split("\n").filter((l) => l.startsWith("# expect: ")).map((l) => l.slice(10));
    assert.ok(expected.length >= 1, `${f} says what it expects`);
    for (const e of expected) assert.ok(r.stderr.includes(e), `${f}: expected "${e}" in:\n${r.stderr}`);
  }
});

test("what heraldd would refuse at start-up is refused at render time", () => {
  const cases = [
    [["tls.existingSecret="], /listener "grpc" would listen on the pod address in clear/],
    [["database.existingSecret="], /database.existingSecret is required/],
    [["keys.existingSecret="], /keys.existingSecret is required/],
    [["roles.api.grpcReadinessProbe=true"], /kubelet's gRPC probe speaks no TLS/],
    [["inboundMail.enabled=true"], /inboundMail.existingSecret/],
    [["providerSecrets[0].name=nobody", "providerSecrets[0].existingSecret=s", "providerSecrets[0].key=k"], /"nobody" is not a provider of config.providers/],
  ];
  for (const [set, message] of cases) {
    const args = ["template", "herald", chartDir, "--values", `${valuesDir}/minimal.yaml`];
    for (const s of set) args.push("--set", s);
    const r = helm(args, { allowFailure: true });
    assert.notEqual(r.status, 0, set.join(" "));
    assert.match(r.stderr, message);
  }
  // A service mesh encrypting every listener: the explicit statement lets it render, plain HTTP probes.
  const mesh = render(["minimal.yaml"], { set: ["tls.existingSecret=", "tls.plaintextListeners={grpc,json_api,http,mail,ops}", "roles.api.grpcReadinessProbe=true"] });
  const api = byName(mesh, "Deployment", "-api").spec.template.spec.containers[0];
  assert.equal(api.livenessProbe.httpGet.scheme, "HTTP");
  assert.deepEqual(api.readinessProbe.grpc, { port: 50051 });
});

test("the chart README lists every value", async () => {
  const { readFileSync } = await import("node:fs");
  const values = parse(readFileSync(`${chartDir}/values.yaml`, "utf8"));
  const readme = readFileSync(`${chartDir}/README.md`, "utf8");
  const keys = [];
  const walk = (o, path) => {
    for (const [k, v] of Object.entries(o)) {
      const p = path ? `${path}.${k}` : k;
      const leafish = v === null || typeof v !== "object" || Array.isArray(v) || Object.keys(v).length === 0 ||
        ["resources", "labels"].includes(k) || /^probes\.[a-z]+$/.test(p) || /^networkPolicy\.egress\.dns$/.test(p);
      if (leafish) keys.push(p);
      else walk(v, p);
    }
  };
  walk(values, "");
  const missing = [...new Set(keys.map((k) => k.replace(/^roles\.(api|web|worker)\./, "roles.<role>.")))]
    .filter((k) => !/^probes\./.test(k) && !readme.includes("`" + k + "`"));
  assert.deepEqual(missing, []);
  for (const p of ["startup", "liveness", "readiness"]) assert.ok(readme.includes(`\`probes.${p}.periodSeconds\``));
});

test("the CloudNativePG example replicates synchronously and its DSN is the one the tests render", async () => {
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(`${chartDir}/../examples/cnpg-cluster.yaml`, "utf8");
  const cluster = parse(text);
  assert.equal(cluster.kind, "Cluster");
  assert.ok(cluster.spec.minSyncReplicas >= 1, "synchronous replication");
  assert.ok(cluster.spec.maxSyncReplicas >= cluster.spec.minSyncReplicas);
  assert.ok(cluster.spec.maxSyncReplicas < cluster.spec.instances, "CloudNativePG refuses more sync replicas than standbys");
  assert.ok(cluster.spec.minSyncReplicas < cluster.spec.instances - 1, "one standby may be down without blocking writes");
  const name = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const dsn = /url: (.*)$/m.exec(text)[1];
  assert.match(dsn, new RegExp(`host=${name}-rw\\.${ns}\\.svc .*sslmode=verify-full sslrootcert=/etc/herald/pg-ca/ca\\.crt`));
  assert.match(text, new RegExp(`caSecret: ${name}-ca`));
  const minimal = parse(readFileSync(`${valuesDir}/minimal.yaml`, "utf8"));
  assert.equal(minimal.database.caSecret, `${name}-ca`);
  assert.equal(minimal.database.existingSecret, `${name}-app`);
  assert.match(minimal.database.url, new RegExp(`host=${name}-rw\\.${ns}\\.svc .*sslmode=verify-full`));
});

test("NOTES.txt renders and points at the private APIs, the public hooks and the mail Service", async () => {
  // helm template never renders NOTES.txt, and helm install --dry-run wants a cluster: render
  // it through tpl in a throwaway copy of the chart.
  const { cpSync, mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(`${tmpdir()}/herald-notes-`);
  try {
    cpSync(chartDir, `${dir}/herald`, { recursive: true });
    cpSync(`${chartDir}/templates/NOTES.txt`, `${dir}/herald/files/NOTES.txt`);
    writeFileSync(
      `${dir}/herald/templates/notes-check.yaml`,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes-check}\ndata:\n  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n',
    );
    const args = ["template", "herald", `${dir}/herald`, "--namespace", "herald", "--show-only", "templates/notes-check.yaml"];
    const notes = (values) => parse(helm([...args, "--values", `${valuesDir}/${values}`]).stdout).data.notes;
    const on = notes("everything-on.yaml");
    assert.match(on, /herald-api\.herald\.svc:50051/);
    assert.match(on, /https:\/\/herald\.example\.org\/hooks\/sms\//);
    assert.match(on, /herald-mail\.herald\.svc:8081/);
    const minimal = notes("minimal.yaml");
    assert.match(minimal, /ingress\.enabled is false/);
    assert.doesNotMatch(minimal, /WARNING: no certificate/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// heraldd refuses what it does not accept at start-up (exit 2, "configuration error"), before
// it reaches PostgreSQL. Run it on each rendered herald.yaml, with the pod's files made in a
// temporary folder, listeners moved to loopback port 0 and the database at a closed port: it
// must get past its configuration and fail only on the connection. HERALDD is the built
// heraldd (the ctest registration passes it); without it this check is skipped.
const heraldd = process.env.HERALDD;
test("heraldd accepts the herald.yaml and environment each values file renders", { skip: !heraldd && "HERALDD is not set" }, async () => {
  const { mkdtempSync, rmSync, writeFileSync, mkdirSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { execFileSync, spawnSync } = await import("node:child_process");
  const { randomBytes } = await import("node:crypto");
  const dir = mkdtempSync(`${tmpdir()}/herald-config-`);
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=herald-api", "-keyout", `${dir}/tls.key`, "-out", `${dir}/tls.crt`], { stdio: "ignore" });
    for (const [values, objects] of rendered) {
      const cm = of(objects, "ConfigMap").find((c) => c.data["herald.yaml"]);
      // Every mounted file the pods see, under dir instead of /etc/herald.
      let text = cm.data["herald.yaml"].replaceAll("/etc/herald/", `${dir}/etc/`);
      text = text.replace(/\b0\.0\.0\.0:[0-9]+/g, "127.0.0.1:0");
      const config = parse(text);
      config.database.url = config.database.url.replace(/host=\S+/, "host=127.0.0.1 port=1 connect_timeout=2");
      for (const f of [config.suppression_keys_file, config.link_keys_file]) {
        if (!f) continue;
        mkdirSync(f.slice(0, f.lastIndexOf("/")), { recursive: true });
        writeFileSync(f, `k1:${randomBytes(32).toString("hex")}\n`);
      }
      for (const f of [config.tls?.cert_file, config.tls?.key_file, config.tls?.client_ca_file, `${dir}/etc/pg-ca/ca.crt`]) {
        if (!f) continue;
        mkdirSync(f.slice(0, f.lastIndexOf("/")), { recursive: true });
        const source = f.endsWith(".key") ? "tls.key" : "tls.crt";
        writeFileSync(f, execFileSync("cat", [`${dir}/${source}`]));
      }
      writeFileSync(`${dir}/herald.yaml`, JSON.stringify(config));
      for (const d of of(objects, "Deployment")) {
        const c = d.spec.template.spec.containers[0];
        const env = { PATH: process.env.PATH };
        for (const e of c.env) env[e.name] = e.value ?? "0123456789abcdef0123456789abcdef";
        const r = spawnSync(heraldd, ["serve", "--config", `${dir}/herald.yaml`, "--wait-for-db", "0"], { env, encoding: "utf8", timeout: 30000 });
        const where = `${values} ${d.metadata.name}`;
        assert.doesNotMatch(r.stderr, /configuration error/, `${where}:\n${r.stderr}`);
        assert.equal(r.status, 1, `${where}: exits on the database only:\n${r.stderr}`);
        assert.match(r.stderr, /127\.0\.0\.1.*port 1|Connection refused/i, where);
      }
      // The migration hook Job: no herald.yaml, only its environment.
      for (const job of of(objects, "Job")) {
        const c = job.spec.template.spec.containers[0];
        const env = { PATH: process.env.PATH };
        for (const e of c.env) {
          let v = e.value ?? "0123456789abcdef0123456789abcdef";
          v = v.replaceAll("/etc/herald/", `${dir}/etc/`).replace(/host=\S+/, "host=127.0.0.1 port=1 connect_timeout=2");
          env[e.name] = v;
        }
        const r = spawnSync(heraldd, [...c.args.slice(0, 1), "--wait-for-db", "0"], { env, encoding: "utf8", timeout: 30000 });
        assert.doesNotMatch(r.stderr, /configuration error/, `${values} Job:\n${r.stderr}`);
        assert.equal(r.status, 1, `${values} Job: exits on the database only:\n${r.stderr}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
