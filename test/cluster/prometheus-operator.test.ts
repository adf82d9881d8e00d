/**
 * The real prometheus-operator (tools/build-operator.sh) against a real
 * kube-apiserver: with all of its CRDs installed it reconciles a Prometheus
 * and a PodMonitor into the generated configuration Secret and a StatefulSet,
 * without admission webhooks, kube-controller-manager or a kubelet.
 */
import * as fs from 'fs';
import * as path from 'path';
import { havePrometheus } from '../harness/binaries';
import { ControlPlane, ensureNamespace, haveK8sBinaries, startControlPlane } from '../harness/control-plane';
import { GeneratedConfig, generatedPrometheusConfig, haveOperator, installOperatorCrds, RunningOperator, startOperator, substituteConfig } from '../harness/operator';
import { promtool } from '../harness/prometheus';
import { waitFor } from '../harness/wait';
import { renderManifests } from '../../src/render';
import { SPEC_VARIANTS } from '../harness/spec-variants';

const NS = 'llm';
/** Every spec variant in operator mode with a Prometheus of its own, each in its own namespace. */
const VARIANTS = Object.entries(SPEC_VARIANTS).map(([name, spec], i) => {
  const monitoring = { ...spec.monitoring, mode: 'operator' as const, createPrometheus: true };
  return { name, namespace: `variant-${i}`, objs: renderManifests({ name: 'demo', namespace: `variant-${i}`, spec: { ...spec, monitoring } }) };
});
/** A stack in operator mode on a shared kube-prometheus-stack Prometheus (its default selectors), and one without the release label. */
const KPS_NS = 'monitoring';
const TEAM_NS = 'team-a';
const SHARED_STACK = renderManifests({ name: 'shared', namespace: TEAM_NS, spec: { models: [{ name: 'qwen', model: 'x/y', engine: 'vllm' }], monitoring: { mode: 'operator' } } });
const OTHER_RELEASE = renderManifests({ name: 'other', namespace: TEAM_NS, spec: { models: [{ name: 'qwen', model: 'x/y', engine: 'sglang' }], monitoring: { mode: 'operator', release: 'another-prometheus' } } });
const runIf = haveK8sBinaries() && haveOperator() ? describe : describe.skip;

runIf('prometheus-operator against a real kube-apiserver', () => {
  let cp: ControlPlane;
  let op: RunningOperator | undefined;
  let crds: string[];
  let generated: GeneratedConfig | undefined;
  const apply = async (apiPath: string, obj: any) => {
    const res = await cp.request('PATCH', `${apiPath}/${obj.metadata.name}?fieldManager=test&force=true`, obj, 'application/apply-patch+yaml');
    if (res.status >= 300) throw new Error(`${obj.kind} ${obj.metadata.name}: ${res.text.slice(0, 2000)}`);
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    for (const ns of [NS, KPS_NS, TEAM_NS, ...VARIANTS.map((v) => v.namespace)]) await ensureNamespace(cp, ns);
    crds = await installOperatorCrds(cp);
    op = await startOperator({ kubeconfig: cp.kubeconfig, namespaces: [NS, KPS_NS, TEAM_NS, ...VARIANTS.map((v) => v.namespace)], dir: cp.dir });
  }, 180_000);
  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  test('all of its CRDs are served', () => {
    expect(crds.sort()).toEqual(['alertmanagerconfigs', 'alertmanagers', 'podmonitors', 'probes', 'prometheusagents', 'prometheuses',
      'prometheusrules', 'scrapeconfigs', 'servicemonitors', 'thanosrulers'].map((p) => `${p}.monitoring.coreos.com`));
  });

  test('a Prometheus and a PodMonitor become the generated config Secret and a StatefulSet', async () => {
    await apply(`/apis/monitoring.coreos.com/v1/namespaces/${NS}/prometheuses`, {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus',
      metadata: { name: 'inference', namespace: NS },
      spec: { version: 'v3.16.0', replicas: 1, serviceAccountName: 'prometheus', podMonitorSelector: { matchLabels: { team: 'llm' } } },
    });
    await apply(`/apis/monitoring.coreos.com/v1/namespaces/${NS}/podmonitors`, {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor',
      metadata: { name: 'vllm', namespace: NS, labels: { team: 'llm' } },
      spec: { selector: { matchLabels: { app: 'vllm' } }, podMetricsEndpoints: [{ port: 'metrics', interval: '15s', path: '/metrics' }] },
    });

    generated = await waitFor('the PodMonitor in the generated config', async () => {
      const g = await generatedPrometheusConfig(cp, NS, 'inference');
      return g?.config?.scrape_configs?.some((j: any) => j.job_name === `podMonitor/${NS}/vllm/0`) ? g : undefined;
    }, 60_000).catch((e) => { throw new Error(`${e.message}\n${op!.logTail()}`); });
    fs.writeFileSync(path.join(cp.dir, 'prometheus.yaml'), generated!.text);

    const job = generated!.config.scrape_configs.find((j: any) => j.job_name === `podMonitor/${NS}/vllm/0`);
    expect(job.scrape_interval).toBe('15s');
    expect(job.metrics_path).toBe('/metrics');
    expect(job.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [NS] } }]);
    const relabel = (f: (r: any) => boolean) => job.relabel_configs.find(f);
    // The selector and the port become keep rules on the pod's discovery labels.
    expect(relabel((r) => r.action === 'keep' && r.source_labels?.join() === '__meta_kubernetes_pod_label_app,__meta_kubernetes_pod_labelpresent_app')).toMatchObject({ regex: '(vllm);true' });
    expect(relabel((r) => r.action === 'keep' && r.source_labels?.join() === '__meta_kubernetes_pod_container_port_name')).toMatchObject({ regex: 'metrics' });
    // The target labels every PodMonitor gets.
    for (const target of ['namespace', 'container', 'pod', 'job', 'endpoint']) expect(relabel((r) => r.target_label === target)).toBeDefined();
    expect(relabel((r) => r.target_label === 'job')).toMatchObject({ replacement: `${NS}/vllm` });
    expect(relabel((r) => r.target_label === 'endpoint')).toMatchObject({ replacement: 'metrics' });

    // The StatefulSet it would run Prometheus in (no kube-controller-manager: no pod).
    const sts = await waitFor('StatefulSet prometheus-inference', async () => {
      const r = await cp.request('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/prometheus-inference`);
      return r.status === 200 ? r.body : undefined;
    }, 30_000);
    const containers = sts.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`);
    expect(containers).toEqual(expect.arrayContaining(['prometheus=quay.io/prometheus/prometheus:v3.16.0',
      'config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.93.0']));
    expect((await cp.request('GET', `/api/v1/namespaces/${NS}/services/prometheus-operated`)).status).toBe(200);

    // Reconciled, not Available: nothing runs the pod.
    const conditions = await waitFor('Prometheus status conditions', async () => {
      const r = await cp.request('GET', `/apis/monitoring.coreos.com/v1/namespaces/${NS}/prometheuses/inference`);
      const c = r.body?.status?.conditions;
      return c?.some((x: any) => x.type === 'Reconciled') ? c : undefined;
    }, 30_000);
    expect(conditions.find((c: any) => c.type === 'Reconciled').status).toBe('True');
    expect(conditions.find((c: any) => c.type === 'Available').status).toBe('False');

    // Nothing registered an admission or conversion webhook.
    for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
      expect((await cp.request('GET', `/apis/admissionregistration.k8s.io/v1/${kind}`)).body.items).toEqual([]);
    }
  }, 120_000);

  (havePrometheus() ? test : test.skip)('the config-reloader fills in its placeholders and promtool accepts the result', async () => {
    expect(generated?.text).toContain('$(SHARD)');
    const file = await substituteConfig(generated!.gz, cp.dir, { POD_NAME: 'prometheus-inference-0', SHARD: '0' });
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('$(');
    expect(text).toContain('prometheus_replica: prometheus-inference-0');
    const check = await promtool(['check', 'config', file]);
    expect(`${check.stdout}${check.stderr}`).toContain('SUCCESS');
    expect(check.code).toBe(0);
  });

  // Operator mode on a shared kube-prometheus-stack: its Prometheus (the chart's default selectors: `release: <release name>`
  // in every namespace, alerting to its own Alertmanager) loads our PrometheusRule because of the release label, and sends
  // what fires to that Alertmanager; a stack labelled for another release is not loaded.
  test('kube-prometheus-stack\'s Prometheus loads our rules by their release label and sends to its Alertmanager', async () => {
    const release = 'kube-prometheus-stack';
    await apply(`/apis/monitoring.coreos.com/v1/namespaces/${KPS_NS}/prometheuses`, {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus',
      metadata: { name: `${release}-prometheus`, namespace: KPS_NS },
      spec: {
        version: 'v3.16.0', replicas: 1, serviceAccountName: `${release}-prometheus`,
        ruleSelector: { matchLabels: { release } }, ruleNamespaceSelector: {},
        podMonitorSelector: { matchLabels: { release } }, podMonitorNamespaceSelector: {},
        alerting: { alertmanagers: [{ namespace: KPS_NS, name: `${release}-alertmanager`, port: 'http-web', apiVersion: 'v2' }] },
      },
    });
    const plural: Record<string, string> = { PodMonitor: 'podmonitors', PrometheusRule: 'prometheusrules' };
    for (const o of [...SHARED_STACK, ...OTHER_RELEASE].filter((x) => plural[x.kind])) await apply(`/apis/monitoring.coreos.com/v1/namespaces/${TEAM_NS}/${plural[o.kind]}`, o);
    const ours = SHARED_STACK.find((o) => o.kind === 'PrometheusRule')!;
    expect(ours.metadata.labels?.release).toBe(release);

    const cm = await waitFor('our rules in kube-prometheus-stack\'s rule files', async () => {
      const r = await cp.request('GET', `/api/v1/namespaces/${KPS_NS}/configmaps/prometheus-${release}-prometheus-rulefiles-0`);
      return r.status === 200 && Object.keys(r.body.data ?? {}).some((k) => k.startsWith(`${TEAM_NS}-${ours.metadata.name}-`)) ? r.body : undefined;
    }, 60_000).catch((e) => { throw new Error(`${e.message}\n${op!.logTail()}`); });
    const files = Object.keys(cm.data);
    // Only ours: the other release's rule is not selected.
    expect(files.filter((k) => k.startsWith(`${TEAM_NS}-`)).map((k) => k.replace(/-[0-9a-f-]{36}\.yaml$/, ''))).toEqual([`${TEAM_NS}-${ours.metadata.name}`]);
    const text = cm.data[files.find((k) => k.startsWith(`${TEAM_NS}-${ours.metadata.name}-`))!];
    for (const alert of ['InferenceTargetDown', 'InferenceTimeToFirstTokenHigh', 'InferenceErrorRateHigh']) expect(text).toContain(`alert: ${alert}`);
    const f = path.join(cp.dir, 'kps-rules.yaml');
    fs.writeFileSync(f, text);
    expect((await promtool(['check', 'rules', f])).code).toBe(0);

    const g = await waitFor('alerting and our scrape jobs in its configuration', async () => {
      const c = await generatedPrometheusConfig(cp, KPS_NS, `${release}-prometheus`);
      return c?.config?.alerting && (c.config.scrape_configs ?? []).some((j: any) => j.job_name.startsWith(`podMonitor/${TEAM_NS}/shared-`)) ? c : undefined;
    }, 60_000);
    const am = g!.config.alerting.alertmanagers[0];
    expect(am.api_version).toBe('v2');
    expect(am.kubernetes_sd_configs[0]).toMatchObject({ role: 'endpoints', namespaces: { names: [KPS_NS] } });
    expect(am.relabel_configs.some((r: any) => r.action === 'keep' && String(r.regex).includes(`${release}-alertmanager`))).toBe(true);
    expect((g!.config.scrape_configs as any[]).some((j) => j.job_name.startsWith(`podMonitor/${TEAM_NS}/other-`))).toBe(false);
  }, 120_000);

  // What we emit in operator mode, for every spec variant: the operator takes every object, its configuration has one job per
  // PodMonitor endpoint whose relabelings end with our own (job back to our name, the operator's extra labels dropped), and
  // promtool accepts the configuration and the rule file it generates.
  describe.each(VARIANTS)('operator mode, $name', ({ namespace, objs }) => {
    test('the operator accepts every object; one job per endpoint, ending in our relabelings; promtool accepts config and rules', async () => {
      const monitoring = objs.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'));
      // The Secrets remote write reads its credentials from are the user's: the operator needs them to exist.
      const refs = new Map<string, Set<string>>();
      const collect = (v: any): void => {
        if (!v || typeof v !== 'object') return;
        if (typeof v.name === 'string' && typeof v.key === 'string' && Object.keys(v).length === 2) refs.set(v.name, (refs.get(v.name) ?? new Set()).add(v.key));
        for (const x of Object.values(v)) collect(x);
      };
      for (const o of monitoring.filter((x) => x.kind === 'Prometheus')) collect(o.spec.remoteWrite);
      // The operator parses certificates: a CA gets a real one (the apiserver's self-signed certificate will do).
      const pem = fs.readFileSync(path.join(cp.dir, 'pki', 'apiserver.crt'), 'utf8');
      for (const [name, keys] of refs) {
        await apply(`/api/v1/namespaces/${namespace}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: Object.fromEntries([...keys].map((k) => [k, k.endsWith('.crt') ? pem : 'x'])) });
      }
      const plural: Record<string, string> = { PodMonitor: 'podmonitors', PrometheusRule: 'prometheusrules', Prometheus: 'prometheuses' };
      for (const o of monitoring) await apply(`/apis/monitoring.coreos.com/v1/namespaces/${namespace}/${plural[o.kind]}`, o);
      const monitors = monitoring.filter((o) => o.kind === 'PodMonitor');
      const expectedJobs = monitors.flatMap((m) => m.spec.podMetricsEndpoints.map((_e: any, i: number) => `podMonitor/${namespace}/${m.metadata.name}/${i}`)).sort();
      expect(expectedJobs.length).toBeGreaterThan(0);
      const g = await waitFor('every PodMonitor endpoint in the generated config', async () => {
        const c = await generatedPrometheusConfig(cp, namespace, 'demo-prometheus');
        const jobs = (c?.config?.scrape_configs ?? []).map((j: any) => j.job_name).sort();
        return JSON.stringify(jobs) === JSON.stringify(expectedJobs) ? c : undefined;
      }, 60_000).catch((e) => { throw new Error(`${e.message}\n${op!.logTail()}`); });
      for (const m of monitors) {
        m.spec.podMetricsEndpoints.forEach((e: any, i: number) => {
          const job = g!.config.scrape_configs.find((j: any) => j.job_name === `podMonitor/${namespace}/${m.metadata.name}/${i}`);
          const ours = e.relabelings.map((r: any) => r.targetLabel ?? r.regex);
          const theirs = job.relabel_configs.map((r: any) => r.target_label ?? r.regex);
          // Ours come after the operator's own (only its sharding follows), so our job name and drops win.
          const at = theirs.lastIndexOf(ours[0]);
          expect(theirs.slice(at, at + ours.length)).toEqual(ours);
          expect(job.relabel_configs.filter((r: any) => r.target_label === 'job').pop().replacement).not.toContain('/');
          expect(job.honor_labels ?? false).toBe(e.honorLabels);
        });
      }
      const file = await substituteConfig(g!.gz, cp.dir, { POD_NAME: 'prometheus-demo-prometheus-0', SHARD: '0' });
      const check = await promtool(['check', 'config', '--syntax-only', file]);
      expect({ code: check.code, out: `${check.stdout}${check.stderr}`.slice(0, 800) }).toMatchObject({ code: 0 });
      // The rule file the operator mounts: its ConfigMap prometheus-<name>-rulefiles-0.
      if (monitoring.some((o) => o.kind === 'PrometheusRule')) {
        const cm = await waitFor('the rule file ConfigMap', async () => {
          const r = await cp.request('GET', `/api/v1/namespaces/${namespace}/configmaps/prometheus-demo-prometheus-rulefiles-0`);
          return r.status === 200 && Object.keys(r.body.data ?? {}).length ? r.body : undefined;
        }, 60_000);
        for (const [name, text] of Object.entries(cm.data as Record<string, string>)) {
          const f = path.join(cp.dir, `${namespace}-${name}`);
          fs.writeFileSync(f, text);
          const rules = await promtool(['check', 'rules', f]);
          expect({ name, code: rules.code, out: `${rules.stdout}${rules.stderr}`.slice(0, 800) }).toMatchObject({ code: 0 });
        }
      }
    }, 120_000);
  });
});
