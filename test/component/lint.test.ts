/**
 * kube-score, a real Kubernetes manifest linter built from the Go module
 * proxy, over every synthesized file in dist/. Each finding must be accepted
 * with a reason in lint/kube-score.yaml, and each accepted entry must still
 * match a finding, so the justification list cannot go stale.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { REPO, kubeScoreBin } from '../harness/binaries';

interface Accepted { check: string; summary: string; objects: string[]; reason: string }
interface LintConfig { kubernetesVersion: string; accepted: Accepted[] }
interface Finding { object: string; check: string; grade: number; summary: string }

const config: LintConfig = YAML.parse(fs.readFileSync(path.join(REPO, 'lint', 'kube-score.yaml'), 'utf8'));
const distFiles = fs.readdirSync(path.join(REPO, 'dist')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(REPO, 'dist', f));
const bin = kubeScoreBin();
const run = fs.existsSync(bin) ? describe : describe.skip;

/** kube-score's JSON (v2) report, flattened to one finding per comment. */
function score(files: string[]): Finding[] {
  let out: string;
  try {
    out = execFileSync(bin, ['score', '--kubernetes-version', config.kubernetesVersion, '-o', 'json', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) {
    // kube-score exits 1 when it has critical findings; the report is still on stdout.
    out = (e as { stdout?: string }).stdout ?? '';
    if (!out) throw e;
  }
  const report = JSON.parse(out) as Array<{ type_meta: { kind: string }; object_meta: { name: string; namespace?: string }; checks: Array<{ check: { id: string }; grade: number; skipped: boolean; comments: Array<{ path?: string; summary: string }> | null }> }>;
  const findings: Finding[] = [];
  for (const o of report) {
    const object = `${o.type_meta.kind}/${o.object_meta.namespace ?? ''}/${o.object_meta.name}`;
    for (const c of o.checks) {
      if (c.skipped || c.grade >= 10) continue; // 10 = OK
      for (const comment of c.comments ?? [{ summary: c.check.id }]) {
        findings.push({ object: comment.path ? `${object}/${comment.path}` : object, check: c.check.id, grade: c.grade, summary: comment.summary });
      }
    }
  }
  return findings;
}

const matches = (a: Accepted, f: Finding) =>
  a.check === f.check && new RegExp(`^(?:${a.summary})$`).test(f.summary) && a.objects.some((o) => new RegExp(`^(?:${o})$`).test(f.object));

run('kube-score over dist/', () => {
  const findings = score(distFiles);

  test('it scored the workloads of every dist file', () => {
    // A linter that parsed nothing would pass everything: make sure it saw the pods.
    const objects = new Set(findings.map((f) => f.object.split('/').slice(0, 3).join('/')));
    for (const w of ['Deployment/llm/demo-llama-vllm', 'StatefulSet/llm/demo-prometheus', 'Deployment/inference-monitoring-system/inference-monitoring-controller']) {
      expect(objects).toContain(w);
    }
  });

  test('every finding is fixed or justified in lint/kube-score.yaml', () => {
    const unexplained = findings.filter((f) => !config.accepted.some((a) => matches(a, f)));
    expect(unexplained.map((f) => `${f.object}: [${f.check}] ${f.summary}`)).toEqual([]);
  });

  test('every justification still matches a finding and gives a reason', () => {
    for (const a of config.accepted) {
      expect(a.reason?.length ?? 0).toBeGreaterThan(40);
      expect({ entry: `${a.check}: ${a.summary}`, matched: findings.some((f) => matches(a, f)) }).toEqual({ entry: `${a.check}: ${a.summary}`, matched: true });
    }
  });

  test('what kube-score enforces with no exception: probes, selectors, services, PDB, headless governing service', () => {
    const neverAccepted = ['statefulset-has-servicename', 'service-targets-pod', 'deployment-has-poddisruptionbudget', 'deployment-has-host-podantiaffinity', 'container-image-tag', 'pod-probes', 'label-values', 'stable-version', 'networkpolicy-targets-pod', 'deployment-pod-selector-labels-match-template-metadata-labels', 'container-security-context-privileged'];
    expect(findings.filter((f) => neverAccepted.includes(f.check) && !f.object.includes('dcgm'))).toEqual([]);
  });
});
