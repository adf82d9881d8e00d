/**
 * Every generated Prometheus configuration and rule file passes the real
 * `promtool` (built from the Go module proxy), for a set of specs covering
 * both modes, every engine, targets, remote write and disabled components.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { configYaml } from '../../src/config-yaml';
import { buildRuleFiles, withRunbooks } from '../../src/alerts/rules';
import { planStack } from '../../src/plan/plan';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { renderManifests } from '../../src/render';
import { havePrometheus } from '../harness/binaries';
import { promtool } from '../harness/prometheus';
import { SPEC_VARIANTS } from '../harness/spec-variants';


const runIf = havePrometheus() ? describe : describe.skip;

runIf('promtool', () => {
  test.each(Object.entries(SPEC_VARIANTS))('check config and check rules pass: %s', async (_name, spec) => {
    const result = planStack({ name: 'demo', namespace: 'llm', spec });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-promtool-'));
    try {
      const cfg = buildPrometheusConfig(result.value);
      const rules = buildRuleFiles(result.value);
      for (const [name, file] of Object.entries(rules)) {
        fs.writeFileSync(path.join(dir, name), configYaml(file));
        const r = await promtool(['check', 'rules', path.join(dir, name)]);
        expect({ file: name, code: r.code, out: r.stderr }).toEqual({ file: name, code: 0, out: '' });
      }
      // Point rule_files at the temp dir so `check config` also checks them.
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), configYaml({ ...cfg, rule_files: [path.join(dir, '*.yaml')] }));
      const r = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
      expect(r.stdout).toContain('SUCCESS');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the prometheus.yml shipped in the managed stack ConfigMap is the one checked', () => {
    const objs = renderManifests({ name: 'demo', namespace: 'llm', spec: SPEC_VARIANTS['every engine'] });
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'demo-prometheus');
    const result = planStack({ name: 'demo', namespace: 'llm', spec: SPEC_VARIANTS['every engine'] });
    expect(result.ok && cm!.data['prometheus.yml']).toBe(result.ok && configYaml(buildPrometheusConfig(result.value)));
  });

  test('a runbookBaseUrl with {{ (issue #26) makes a rule file promtool accepts, whose runbook_url Prometheus prints as written', async () => {
    const base = 'https://runbooks.example/{{.Foo}}/{{$labels.model}}/{{';
    const result = planStack({ name: 'demo', namespace: 'llm', spec: { models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], alerting: { runbookBaseUrl: base } } });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-promtool-'));
    try {
      const rules = buildRuleFiles(result.value);
      for (const [name, file] of Object.entries(rules)) {
        fs.writeFileSync(path.join(dir, name), configYaml(file));
        const r = await promtool(['check', 'rules', path.join(dir, name)]);
        expect({ file: name, code: r.code, out: r.stderr }).toEqual({ file: name, code: 0, out: '' });
      }
      // The annotation as Prometheus renders it, for an alert that fires at once, built the same way.
      const [group] = withRunbooks([{ name: 'literal', rules: [{ alert: 'Always', expr: 'vector(1)', labels: { model: 'm' }, annotations: { summary: 's' } }] }], base);
      fs.writeFileSync(path.join(dir, 'literal.yaml'), configYaml({ groups: [group] }));
      fs.writeFileSync(path.join(dir, 'test.yaml'), configYaml({
        rule_files: [path.join(dir, 'literal.yaml')], evaluation_interval: '1m',
        tests: [{ interval: '1m', input_series: [], alert_rule_test: [{ eval_time: '1m', alertname: 'Always', exp_alerts: [{ exp_labels: { model: 'm' }, exp_annotations: { summary: 's', runbook_url: `${base}/Always.md` } }] }] }],
      }));
      const t = await promtool(['test', 'rules', path.join(dir, 'test.yaml')]);
      expect({ code: t.code, out: t.stdout + t.stderr }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('selector keys with a DNS prefix (issue #26: keys are qualified names) make a configuration promtool accepts', async () => {
    const spec = {
      models: [{ name: 'v', model: 'x/y', engine: 'vllm' }],
      targets: [{ name: 'legacy', engine: 'sglang', selector: { 'app.kubernetes.io/name': 'sglang', 'example.com/team_a.b-c': 'x' }, port: 30000 }],
      gpuMetrics: { deployExporter: false, exporterNamespace: 'gpu-operator', exporterSelector: { 'nvidia.com/app': 'dcgm' } },
    };
    const result = planStack({ name: 'demo', namespace: 'llm', spec });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-promtool-'));
    try {
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), configYaml({ ...buildPrometheusConfig(result.value), rule_files: [] }));
      const r = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('promtool does reject a broken configuration (the check can fail)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-promtool-'));
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), Yaml.stringify({ global: { scrape_interval: '15 seconds' }, scrape_configs: [] }));
    const r = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
  });
});
