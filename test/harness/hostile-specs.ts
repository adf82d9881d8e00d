/** Specs shared by the admission and controller tests (issue #26). */

const model = (extra: Record<string, unknown> = {}) => ({ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm', ...extra });

/**
 * Admitted by the apiserver (its cost estimate cannot afford a rule over map keys, and Go's URL parser takes a
 * host WHATWG refuses), refused by the library with the field path: the CLI exits 1 and the controller sets
 * `Degraded` (reason InvalidSpec) with it, before anything is rendered.
 */
export const LIBRARY_ONLY_SPECS: Array<{ name: string; spec: unknown; path: string; message: string }> = [
  { name: 'a target selector key with a space (promtool refused the discovery selector)', spec: { targets: [{ name: 't', engine: 'vllm', selector: { 'app name': 'x' }, port: 8000 }] }, path: 'spec.targets[0].selector', message: 'label keys must be qualified names' },
  { name: 'an exporter selector key with two slashes', spec: { models: [model()], gpuMetrics: { deployExporter: false, exporterSelector: { 'a/b/c': 'x' } } }, path: 'spec.gpuMetrics.exporterSelector', message: 'label keys must be qualified names' },
  { name: 'a shared Prometheus selector key of 64 characters', spec: { models: [model()], monitoring: { mode: 'operator' }, networkPolicy: { sharedPrometheus: { podSelector: { ['k'.repeat(64)]: 'x' } } } }, path: 'spec.networkPolicy.sharedPrometheus.podSelector', message: 'label keys must be qualified names' },
  { name: 'a KEDA selector key ending in a dot', spec: { models: [model({ autoscaling: { target: 5 } })], networkPolicy: { autoscaler: { podSelector: { 'app.': 'keda' } } } }, path: 'spec.networkPolicy.autoscaler.podSelector', message: 'label keys must be qualified names' },
  { name: 'a remote-write host with < (Go parses it, WHATWG does not)', spec: { models: [model()], monitoring: { remoteWrite: [{ url: 'https://mimir<x/api/v1/push' }] } }, path: 'spec.monitoring.remoteWrite[0].url', message: 'must be an absolute http(s) URL with a host' },
];
