/**
 * Adapts a generated prometheus.yml to a machine without Kubernetes: each
 * job's `kubernetes_sd_configs` becomes `static_configs` whose labels are the
 * `__meta_kubernetes_*` labels pod discovery would produce, so the generated
 * relabeling runs unchanged.
 */
import { PrometheusConfig, ScrapeConfig } from '../../src/prometheus/config-types';

export interface FakePod {
  /** `host:port` where the fixture server for this container port listens. */
  readonly address: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly portName?: string;
  /** The port number Kubernetes would report (defaults to the address's port). */
  readonly portNumber?: number;
  readonly podLabels: Record<string, string>;
  readonly node?: string;
  readonly phase?: string;
}

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');

export function podMetaLabels(p: FakePod): Record<string, string> {
  const labels: Record<string, string> = {
    __meta_kubernetes_namespace: p.namespace,
    __meta_kubernetes_pod_name: p.pod,
    __meta_kubernetes_pod_container_name: p.container,
    __meta_kubernetes_pod_container_port_number: String(p.portNumber ?? Number(p.address.split(':')[1])),
    __meta_kubernetes_pod_ip: p.address.split(':')[0],
    __meta_kubernetes_pod_node_name: p.node ?? 'gpu-node-0',
    __meta_kubernetes_pod_phase: p.phase ?? 'Running',
  };
  if (p.portName) labels.__meta_kubernetes_pod_container_port_name = p.portName;
  for (const [k, v] of Object.entries(p.podLabels)) {
    labels[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
    labels[`__meta_kubernetes_pod_labelpresent_${sanitize(k)}`] = 'true';
  }
  return labels;
}

/** Returns a copy of `cfg` with pod discovery replaced by the given fake pods per job, and rules read from `rulesDir`. */
export function staticize(cfg: PrometheusConfig, podsByJob: Record<string, FakePod[]>, rulesDir: string): PrometheusConfig {
  const copy: PrometheusConfig = JSON.parse(JSON.stringify(cfg));
  copy.rule_files = [`${rulesDir}/*.yaml`];
  copy.scrape_configs = copy.scrape_configs.map((job): ScrapeConfig => {
    if (!job.kubernetes_sd_configs) return job;
    const pods = podsByJob[job.job_name] ?? [];
    const { kubernetes_sd_configs: _sd, ...rest } = job;
    return { ...rest, static_configs: pods.map((p) => ({ targets: [p.address], labels: podMetaLabels(p) })) };
  });
  copy.scrape_configs = copy.scrape_configs.filter((j) => j.job_name !== 'prometheus');
  return copy;
}
