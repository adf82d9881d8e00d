/**
 * Security properties asserted over every pod the stack synthesizes, in both
 * monitoring modes: Pod Security `restricted` for monitoring pods, `baseline`
 * for GPU inference pods, resources on every container, no credentials in
 * manifests, and NetworkPolicies that fence Prometheus, Tempo and metrics ports.
 */
import { Yaml } from 'cdk8s';
import { renderManifests, Manifest } from '../../src/render';
import { EXAMPLE_NAME, EXAMPLE_NAMESPACE, EXAMPLE_SPEC } from '../../charts/example';
import { SPEC_VARIANTS } from '../harness/spec-variants';
import { parse as parseYaml } from 'yaml';
import { validateSpec } from '../../src/api/validate';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const stacks: Array<[string, Manifest[]]> = [
  ['example (managed)', renderManifests({ name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: EXAMPLE_SPEC })],
  ['example (operator, own Prometheus)', renderManifests({ name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: { ...EXAMPLE_SPEC, monitoring: { mode: 'operator', createPrometheus: true } } })],
  ...Object.entries(SPEC_VARIANTS).map(([n, spec]): [string, Manifest[]] => [n, renderManifests({ name: 'demo', namespace: 'llm', spec })]),
];

const podSpecOf = (o: Manifest) => o.spec?.template?.spec;
/** Every pod template: a workload's, and each role of a LeaderWorkerSet (as a workload of its own). */
const workloads = (objs: Manifest[]) => objs.flatMap((o): Manifest[] => (o.kind === 'LeaderWorkerSet'
  ? ['leaderTemplate', 'workerTemplate'].map((role) => ({ ...o, metadata: { ...o.metadata, name: `${o.metadata.name} ${role}`, labels: o.spec.leaderWorkerTemplate[role].metadata.labels }, spec: { template: o.spec.leaderWorkerTemplate[role] } }))
  : podSpecOf(o) ? [o] : []));

test('LeaderWorkerSet pod templates are checked like every other pod', () => {
  const objs = stacks.find(([n]) => n === 'multi-node models')![1];
  expect(workloads(objs).filter((w) => w.kind === 'LeaderWorkerSet')).toHaveLength(8);
});
const component = (o: Manifest) => o.metadata.labels?.['app.kubernetes.io/component'];
const MONITORING = ['prometheus', 'tempo', 'grafana', 'alertmanager'];

describe.each(stacks)('%s', (_name, objs) => {
  test('monitoring pods meet Pod Security "restricted"', () => {
    const pods = workloads(objs).filter((o) => MONITORING.includes(component(o) ?? ''));
    for (const w of pods) {
      const spec = podSpecOf(w);
      expect({ name: w.metadata.name, runAsNonRoot: spec.securityContext?.runAsNonRoot }).toEqual({ name: w.metadata.name, runAsNonRoot: true });
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext;
        expect({ pod: w.metadata.name, container: c.name, allowPrivilegeEscalation: sc.allowPrivilegeEscalation, drop: sc.capabilities?.drop, seccomp: sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type, readOnlyRootFilesystem: sc.readOnlyRootFilesystem, runAsNonRoot: sc.runAsNonRoot })
          .toEqual({ pod: w.metadata.name, container: c.name, allowPrivilegeEscalation: false, drop: ['ALL'], seccomp: 'RuntimeDefault', readOnlyRootFilesystem: true, runAsNonRoot: true });
      }
      expect(spec.volumes?.some((v: any) => v.hostPath)).toBeFalsy();
    }
  });

  test('GPU inference pods meet Pod Security "baseline": no privilege, no host namespaces or paths', () => {
    for (const w of workloads(objs).filter((o) => component(o) === 'inference')) {
      const spec = podSpecOf(w);
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostPID ?? false).toBe(false);
      expect(spec.volumes.some((v: any) => v.hostPath)).toBe(false);
      for (const c of spec.containers) {
        expect(c.securityContext.privileged).toBe(false);
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      }
    }
  });

  test('the DCGM exporter is the only pod with a hostPath, read-only, unprivileged, without added capabilities', () => {
    const withHostPath = workloads(objs).filter((w) => podSpecOf(w).volumes?.some((v: any) => v.hostPath));
    expect(withHostPath.every((w) => component(w) === 'gpu-metrics')).toBe(true);
    for (const w of withHostPath) {
      const c = podSpecOf(w).containers[0];
      expect(c.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.securityContext.capabilities.add).toBeUndefined();
      expect(c.volumeMounts.find((m: any) => m.name === 'pod-resources').readOnly).toBe(true);
      expect(podSpecOf(w).nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    }
  });

  test('every container requests CPU and memory and has a memory limit', () => {
    for (const w of workloads(objs)) {
      for (const c of podSpecOf(w).containers) {
        expect({ w: w.metadata.name, c: c.name, cpu: !!c.resources?.requests?.cpu, mem: !!c.resources?.requests?.memory, limit: !!c.resources?.limits?.memory })
          .toEqual({ w: w.metadata.name, c: c.name, cpu: true, mem: true, limit: true });
      }
    }
  });

  test('no Secrets and no credentials in the manifests', () => {
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    const text = Yaml.stringify(...objs);
    expect(text).not.toMatch(/admin\/admin|GF_SECURITY_ADMIN_PASSWORD:|password: [^$\s]/i);
    for (const cm of objs.filter((o) => o.kind === 'ConfigMap')) {
      for (const v of Object.values<string>(cm.data ?? {})) expect(v).not.toMatch(/password:\s*(?!\$)\S+/);
    }
  });

  test('Grafana reads admin credentials from a Secret mounted as files, with anonymous access off', () => {
    const g = workloads(objs).find((o) => component(o) === 'grafana');
    if (!g) return;
    const c = podSpecOf(g).containers[0];
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    expect(env.GF_SECURITY_ADMIN_PASSWORD__FILE).toBe('/etc/grafana/admin/password');
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(podSpecOf(g).volumes.find((v: any) => v.name === 'admin').secret.secretName).toBe('demo-grafana-admin');
  });
});

describe('NetworkPolicies (managed mode)', () => {
  const objs = stacks[0][1];
  const policy = (name: string) => objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name)!;
  const sel = (component: string) => ({ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': component } } });

  test('only Grafana and Tempo (remote write) reach Prometheus', () => {
    expect(policy('demo-prometheus').spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'prometheus' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [sel('grafana'), sel('tempo')], ports: [{ protocol: 'TCP', port: 9090 }] }],
    });
  });

  test('only Grafana queries Tempo, and only the engines that export traces send OTLP to it', () => {
    const ingress = policy('demo-tempo').spec.ingress;
    expect(ingress[0]).toEqual({ from: [sel('grafana')], ports: [{ protocol: 'TCP', port: 3200 }] });
    expect(ingress[1].from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'llama-vllm' } } }]);
  });

  test('LMDeploy rank ports (metrics) are reachable only from Prometheus; the proxy port is open to clients', () => {
    expect(policy('demo-qwen-lmdeploy').spec.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 8000 }] },
      { from: [sel('prometheus')], ports: [{ protocol: 'TCP', port: 23333 }, { protocol: 'TCP', port: 23334 }] },
    ]);
  });

  test('a fenced component without peers admits nobody, never everyone (a rule without `from` matches all sources)', () => {
    const fenced = (spec: Record<string, unknown>) => renderManifests({ name: 'demo', namespace: 'llm', spec: { models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], ...spec } })
      .filter((o) => o.kind === 'NetworkPolicy' && ['prometheus', 'tempo'].includes(o.spec.podSelector.matchLabels['app.kubernetes.io/component']));
    for (const spec of [{ grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } }, { grafana: { enabled: false } }]) {
      const policies = fenced(spec);
      expect(policies.length).toBeGreaterThan(0);
      for (const p of policies) {
        expect({ policy: p.metadata.name, open: (p.spec.ingress ?? []).filter((r: any) => !r.from?.length) }).toEqual({ policy: p.metadata.name, open: [] });
      }
    }
  });

  test('DCGM exporter metrics are reachable only from Prometheus', () => {
    expect(policy('demo-dcgm-exporter').spec.ingress).toEqual([{ from: [sel('prometheus')], ports: [{ protocol: 'TCP', port: 9400 }] }]);
  });
});

describe('NetworkPolicies (operator mode, KEDA, default deny)', () => {
  const np = (spec: Record<string, unknown>) => renderManifests({ name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: { ...EXAMPLE_SPEC, ...spec } }).filter((o) => o.kind === 'NetworkPolicy');
  const byName = (objs: Manifest[], n: string) => objs.find((o) => o.metadata.name === n)!;
  const rank = [{ protocol: 'TCP', port: 23333 }, { protocol: 'TCP', port: 23334 }];

  test('operator mode with a shared Prometheus: metrics-only ports admit only its pods, in its namespace; no policy for a Prometheus not ours', () => {
    const objs = np({ monitoring: { mode: 'operator' }, networkPolicy: { sharedPrometheus: { namespace: 'obs', podSelector: { 'app.kubernetes.io/name': 'prometheus', prometheus: 'k8s' } } } });
    expect(byName(objs, 'demo-qwen-lmdeploy').spec.ingress[1]).toEqual({
      from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus', prometheus: 'k8s' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'obs' } } }],
      ports: rank,
    });
    expect(objs.find((o) => o.metadata.name === 'demo-prometheus')).toBeUndefined();
  });

  test('operator mode with createPrometheus: its policy selects the pods the operator labels, and they scrape the ranks', () => {
    const objs = np({ monitoring: { mode: 'operator', createPrometheus: true } });
    const own = { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': 'demo-prometheus' } } };
    expect(byName(objs, 'demo-prometheus').spec.podSelector).toEqual(own.podSelector);
    expect(byName(objs, 'demo-qwen-lmdeploy').spec.ingress[1]).toEqual({ from: [own], ports: rank });
  });

  test('KEDA reaches Prometheus only when a model autoscales', () => {
    const keda = { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'keda-operator' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } };
    const models = (EXAMPLE_SPEC as any).models;
    const scaled = np({ models: [{ ...models[1], autoscaling: { minReplicas: 1, maxReplicas: 3, metric: 'queueLength', target: 5 } }, models[0]] });
    expect(byName(scaled, 'demo-prometheus').spec.ingress[0].from).toContainEqual(keda);
    expect(byName(np({}), 'demo-prometheus').spec.ingress[0].from).not.toContainEqual(keda);
  });

  test('default deny: one policy denies the stack\'s pods everything, each component gets DNS and only the egress it needs', () => {
    const objs = np({ networkPolicy: { defaultDeny: true }, monitoring: { remoteWrite: [{ url: 'https://mimir.example:9009/api/v1/push' }] } });
    expect(byName(objs, 'demo-default-deny').spec).toEqual({ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo' } }, policyTypes: ['Ingress', 'Egress'] });
    const dns = { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };
    for (const p of objs.filter((o) => o.metadata.name !== 'demo-default-deny')) {
      expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(p.spec.egress[0]).toEqual(dns);
    }
    const prom = byName(objs, 'demo-prometheus').spec.egress;
    expect(prom).toContainEqual({ ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] });
    expect(prom).toContainEqual({ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'qwen-lmdeploy' } } }], ports: rank });
    expect(prom).toContainEqual({ ports: [{ protocol: 'TCP', port: 9009 }] });
    const grafana = byName(objs, 'demo-grafana').spec.egress;
    expect(grafana).toContainEqual({ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'prometheus' } } }], ports: [{ protocol: 'TCP', port: 9090 }] });
    // Every egress rule without `to` names its ports: nothing may reach every port everywhere.
    for (const p of objs) for (const r of p.spec.egress ?? []) expect(r.ports?.length).toBeGreaterThan(0);
  });
});

describe('remote-write credentials stay secret', () => {
  const spec: InferenceMonitoringSpecInput = {
    models: [{ name: 'v', model: 'x/y', engine: 'vllm' }],
    monitoring: { remoteWrite: [
      { url: 'https://mimir.example.com/api/v1/push', basicAuth: { usernameSecretRef: { name: 'mimir-auth', key: 'user' }, passwordSecretRef: { name: 'mimir-auth', key: 'pass' } }, tls: { caSecretRef: { name: 'mimir-ca' }, certSecretRef: { name: 'client-tls' }, keySecretRef: { name: 'client-tls' } } },
      { url: 'https://thanos.example.com/api/v1/receive', bearerTokenSecretRef: { name: 'thanos-token' } },
    ] },
  };

  test('managed: prometheus.yml names files; the Prometheus pod mounts each Secret read-only', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec });
    const cfg = parseYaml(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-prometheus')!.data['prometheus.yml']);
    expect(cfg.remote_write).toEqual([
      { url: 'https://mimir.example.com/api/v1/push', basic_auth: { username_file: '/etc/prometheus/secrets/mimir-auth/user', password_file: '/etc/prometheus/secrets/mimir-auth/pass' },
        tls_config: { ca_file: '/etc/prometheus/secrets/mimir-ca/ca.crt', cert_file: '/etc/prometheus/secrets/client-tls/tls.crt', key_file: '/etc/prometheus/secrets/client-tls/tls.key' } },
      { url: 'https://thanos.example.com/api/v1/receive', authorization: { type: 'Bearer', credentials_file: '/etc/prometheus/secrets/thanos-token/token' } },
    ]);
    const pod = objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'demo-prometheus')!.spec.template.spec;
    const secretVolumes = pod.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName).sort();
    expect(secretVolumes).toEqual(['client-tls', 'mimir-auth', 'mimir-ca', 'thanos-token']);
    const mounts = pod.containers[0].volumeMounts.filter((m: any) => m.mountPath.startsWith('/etc/prometheus/secrets/'));
    expect(mounts.every((m: any) => m.readOnly)).toBe(true);
    expect(mounts.map((m: any) => m.mountPath).sort()).toEqual(['client-tls', 'mimir-auth', 'mimir-ca', 'thanos-token'].map((n) => `/etc/prometheus/secrets/${n}`));
  });

  test('operator: the Prometheus resource references the Secrets, never values', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: { ...spec, monitoring: { ...spec.monitoring, mode: 'operator', createPrometheus: true } } });
    const rw = objs.find((o) => o.kind === 'Prometheus')!.spec.remoteWrite;
    expect(rw[0]).toMatchObject({ basicAuth: { username: { name: 'mimir-auth', key: 'user' }, password: { name: 'mimir-auth', key: 'pass' } }, tlsConfig: { ca: { secret: { name: 'mimir-ca', key: 'ca.crt' } }, cert: { secret: { name: 'client-tls', key: 'tls.crt' } }, keySecret: { name: 'client-tls', key: 'tls.key' } } });
    expect(rw[1]).toMatchObject({ authorization: { type: 'Bearer', credentials: { name: 'thanos-token', key: 'token' } } });
  });

  test('credentials in a URL are refused with the field path', () => {
    const r = validateSpec({ models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], monitoring: { remoteWrite: [{ url: 'https://user:secret@mimir.example.com/api/v1/push' }] } });
    expect(r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([expect.stringMatching(/^spec\.monitoring\.remoteWrite\[0\]\.url: Forbidden: credentials in the URL/)]);
  });
});

describe('trace export credentials stay secret', () => {
  test('tracing.headersSecretRef reaches every tracing engine as OTEL_EXPORTER_OTLP_TRACES_HEADERS from the Secret; a URL with credentials is refused', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: {
      models: [{ name: 'v', model: 'x/y', engine: 'vllm' }, { name: 's', model: 'x/y', engine: 'sglang' }],
      tempo: { enabled: false }, tracing: { endpoint: 'https://otlp.vendor.example:4317', headersSecretRef: { name: 'otlp-auth' } },
    } });
    for (const name of ['demo-v', 'demo-s']) {
      const env = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!.spec.template.spec.containers[0].env;
      expect(env.find((e: any) => e.name === 'OTEL_EXPORTER_OTLP_TRACES_HEADERS')).toEqual({ name: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', valueFrom: { secretKeyRef: { name: 'otlp-auth', key: 'headers' } } });
    }
    const r = validateSpec({ models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], tempo: { enabled: false }, tracing: { endpoint: 'https://u:p@otlp.vendor.example:4317' } });
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual(['spec.tracing.endpoint']);
  });

  test('a model named like a stack component is refused (at admission too)', () => {
    const r = validateSpec({ models: [{ name: 'grafana', model: 'x/y', engine: 'vllm' }] });
    expect(r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([expect.stringMatching(/^spec\.models\[0\]\.name: Invalid value: a model may not be named prometheus, grafana/)]);
  });
});

describe('nothing we write is expanded by what reads it (issue #26)', () => {
  const deployment = (objs: Manifest[], name: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!.spec.template.spec.containers[0];
  const envOf = (c: any) => Object.fromEntries((c.env as any[]).filter((e) => 'value' in e).map((e) => [e.name, e.value]));

  test('a $(HF_TOKEN) in tracing.endpoint stays literal in the transformers env ($$), as in vLLM\'s arguments', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: {
      models: [{ name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 }, hfTokenSecretRef: { name: 'hf', key: 'token' } }, { name: 'v', model: 'x/y', engine: 'vllm' }],
      tempo: { enabled: false }, tracing: { endpoint: 'http://otel.example:4317/$(HF_TOKEN)' },
    } });
    expect(envOf(deployment(objs, 'demo-t')).OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toBe('http://otel.example:4317/$$(HF_TOKEN)');
    expect(deployment(objs, 'demo-v').args).toContain('http://otel.example:4317/$$(HF_TOKEN)');
    // No value we write references a variable, except the pod's own name and namespace in the resource attributes.
    for (const name of ['demo-t', 'demo-v']) {
      for (const [k, v] of Object.entries<string>(envOf(deployment(objs, name)))) {
        expect({ k, refs: (v.replace(/\$\$/g, '').match(/\$\([A-Za-z_][A-Za-z0-9_]*\)/g) ?? []).filter((r) => !['$(POD_NAME)', '$(POD_NAMESPACE)'].includes(r)) }).toEqual({ k, refs: [] });
      }
    }
  });

  test('a $(VAR) in prometheusUrl stays literal in the OTLP metrics endpoint of an engine that pushes', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: {
      models: [{ name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 } }],
      monitoring: { mode: 'operator', prometheusUrl: 'http://prom.monitoring.svc:9090/$(HF_TOKEN)' },
    } });
    expect(envOf(deployment(objs, 'demo-t')).OTEL_EXPORTER_OTLP_METRICS_ENDPOINT).toBe('http://prom.monitoring.svc:9090/$$(HF_TOKEN)/api/v1/otlp/v1/metrics');
  });

  test('Grafana\'s datasource file escapes $ ($$) in every value from the spec; only the credential references expand', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: {
      models: [{ name: 'v', model: 'x/y', engine: 'vllm' }],
      monitoring: { mode: 'operator', prometheusUrl: 'http://prom.monitoring.svc:9090/$BENCHMARKS_DB_PASSWORD' },
      benchmarks: { enabled: true, host: 'pg.example:5432', database: '$BENCHMARKS_DB_PASSWORD', secretRef: { name: 'pg' } },
    } });
    const ds = parseYaml(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-grafana-datasources')!.data['datasources.yaml']);
    const byName = Object.fromEntries(ds.datasources.map((d: any) => [d.name, d]));
    expect(byName.Prometheus.url).toBe('http://prom.monitoring.svc:9090/$$BENCHMARKS_DB_PASSWORD');
    expect(byName.Benchmarks.jsonData.database).toBe('$$BENCHMARKS_DB_PASSWORD');
    expect(byName.Benchmarks.user).toBe('$BENCHMARKS_DB_USER');
    expect(byName.Benchmarks.secureJsonData).toEqual({ password: '$BENCHMARKS_DB_PASSWORD' });
  });

  test('Tempo gets its retention as a Go duration (15d would stop it from starting)', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: { models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], tempo: { retention: '15d' } } });
    const cfg = parseYaml(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-tempo')!.data['tempo.yaml']);
    expect(cfg.compactor.compaction.block_retention).toBe('360h');
  });
});

describe('traces follow an external collector (issue #26)', () => {
  const spec = (extra: Partial<InferenceMonitoringSpecInput> = {}): InferenceMonitoringSpecInput => ({
    models: [{ name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 } }, { name: 'v', model: 'x/y', engine: 'vllm' }],
    tracing: { endpoint: 'http://otel-collector.observability.svc:4317' }, ...extra,
  });

  test('transformers exports to the documented gRPC endpoint over gRPC, not http/protobuf to <endpoint>/v1/traces', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: spec({ tempo: { enabled: false } }) });
    const env = Object.fromEntries(objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-t')!.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL).toBe('grpc');
    expect(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toBe('http://otel-collector.observability.svc:4317');
    // With the stack's Tempo: OTLP/HTTP on its 4318, as before.
    const own = renderManifests({ name: 'demo', namespace: 'llm', spec: { models: spec().models } });
    const ownEnv = Object.fromEntries(own.find((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-t')!.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect([ownEnv.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, ownEnv.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]).toEqual(['http/protobuf', 'http://demo-tempo.llm.svc:4318/v1/traces']);
  });

  test.each([[true], [false]])('under defaultDeny the engines may reach the collector\'s port (Tempo deployed: %p), and not Tempo, which they do not send to', (tempo) => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: spec({ tempo: { enabled: tempo }, networkPolicy: { defaultDeny: true } }) });
    for (const name of ['demo-t', 'demo-v']) {
      const egress = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name)!.spec.egress;
      expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 4317 }] });
      expect(egress.filter((r: any) => r.to?.some((p: any) => p.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'tempo'))).toEqual([]);
    }
  });
});

describe('credentials anywhere in a URL are refused with a pointer to the Secret-based field (issue #26)', () => {
  const model = { name: 'v', model: 'x/y', engine: 'vllm' };
  test.each([
    ['remote write ?password=', { monitoring: { remoteWrite: [{ url: 'https://mimir.example/api/v1/push?password=x' }] } }, 'spec.monitoring.remoteWrite[0].url', 'use basicAuth or bearerTokenSecretRef'],
    ['remote write &X-Amz-Signature=', { monitoring: { remoteWrite: [{ url: 'https://aps.example/api/v1/remote_write?a=1&X-Amz-Signature=abc' }] } }, 'spec.monitoring.remoteWrite[0].url', 'use basicAuth or bearerTokenSecretRef'],
    ['tracing ?api_key=', { tracing: { endpoint: 'https://otlp.vendor.example:4317?api_key=abc' } }, 'spec.tracing.endpoint', 'use headersSecretRef'],
    ['tracing ?access_token=', { tracing: { endpoint: 'https://otlp.vendor.example:4317/?access_token=abc' } }, 'spec.tracing.endpoint', 'use headersSecretRef'],
    ['alerting user:pass@', { alerting: { endpoints: [{ url: 'https://user:pass@am.example' }] } }, 'spec.alerting.endpoints[0].url', 'use bearerTokenSecretRef'],
    ['alerting ?token=', { alerting: { endpoints: [{ url: 'https://am.example?token=abc' }] } }, 'spec.alerting.endpoints[0].url', 'use bearerTokenSecretRef'],
  ])('%s', (_n, extra, path, pointer) => {
    const r = validateSpec({ models: [model], ...extra });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.filter((e) => e.path === path).map((e) => e.message)).toContainEqual(expect.stringMatching(new RegExp(`^Forbidden: credentials in the (query|URL).*${pointer}$`)));
  });

  test('a query parameter that only looks like one is admitted', () => {
    expect(validateSpec({ models: [model], monitoring: { remoteWrite: [{ url: 'https://mimir.example/api/v1/push?tenant=a&keyspace=b&design=c' }] } }).ok).toBe(true);
  });
});
