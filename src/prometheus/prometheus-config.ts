/**
 * Builds the managed Prometheus' configuration from a stack plan: one scrape
 * job per model (every data-parallel rank's port), per monitored target (every
 * rank) and for the DCGM exporter, the OTLP receiver's label promotion, rule
 * files and remote write. Each `add*` function owns one block.
 */
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';
import { DCGM_JOB } from '../plan/components';
import { PORTS } from '../plan/endpoints';
import { ModelPlan, StackPlan, TargetPlan } from '../plan/types';
import { AlertmanagerTargetConfig, PrometheusConfig, ScrapeConfig } from './config-types';
import { dcgmTargetLabels, dropWorkerSamples, modelTargetLabels, workloadTargetLabels } from './target-labels';
import { compareLikeLocale } from '../collate';

/** Where the rule files of the stack are mounted in the Prometheus pod. */
export const RULES_DIR = '/etc/prometheus/rules';
export const PROMETHEUS_PORT = PORTS.prometheus;
export const DCGM_PORT = 9400;
/** Job label of GPU series. */
export { DCGM_JOB };

const selectorString = (labels: Record<string, string>) => Object.entries(labels).sort(([a], [b]) => compareLikeLocale(a, b)).map(([k, v]) => `${k}=${v}`).join(',');

export function modelScrapeConfig(plan: StackPlan, model: ModelPlan): ScrapeConfig {
  const ports = model.metricsEndpoints.map((e) => e.portName);
  return {
    job_name: model.objectName,
    metrics_path: model.metricsEndpoints[0].path,
    honor_labels: false,
    kubernetes_sd_configs: [{
      role: 'pod',
      namespaces: { names: [plan.namespace] },
      selectors: [{ role: 'pod', label: selectorString(model.selectorLabels) }],
    }],
    relabel_configs: [
      // One target per port that serves /metrics: every data-parallel rank's server.
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: ports.join('|'), action: 'keep' },
      ...modelTargetLabels(model.group !== undefined),
    ],
    ...(model.group?.worker.duplicatesLeader ? { metric_relabel_configs: dropWorkerSamples() } : {}),
  };
}

/**
 * A monitored workload whose ports may be unnamed: one job per rank port, the
 * address rewritten to `<pod IP>:<port>` (duplicate targets of one pod collapse
 * because their labels are identical), all under one `job` label.
 */
export function targetScrapeConfigs(target: TargetPlan): ScrapeConfig[] {
  return target.metricsEndpoints.map((e) => ({
    job_name: target.metricsEndpoints.length > 1 ? `${target.objectName}-rank-${e.rank}` : target.objectName,
    metrics_path: e.path,
    honor_labels: false,
    kubernetes_sd_configs: [{
      role: 'pod',
      namespaces: { names: [target.namespace] },
      selectors: [{ role: 'pod', label: selectorString(target.spec.selector) }],
    }],
    relabel_configs: workloadTargetLabels(target.objectName, e.port, target.spec.name, target.spec.engine),
  }));
}

/**
 * GPU series. DCGM exporter labels each GPU's series with the `namespace`,
 * `pod` and `container` that hold the GPU; the job sets none of these target
 * labels itself, so on GPU series they always mean the consuming pod (never
 * the exporter pod) and join directly with inference series.
 */
export function dcgmScrapeConfig(plan: StackPlan): ScrapeConfig {
  const gm = plan.gpuMetrics!;
  return {
    job_name: DCGM_JOB,
    honor_labels: true,
    kubernetes_sd_configs: [{
      role: 'pod',
      namespaces: { names: [gm.scrapeNamespace] },
      selectors: [{ role: 'pod', label: selectorString(gm.selector) }],
    }],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_pod_container_port_number'], regex: String(gm.port), action: 'keep' },
      ...dcgmTargetLabels(),
    ],
  };
}

/** Pod labels of the DCGM exporter: ours, or the GPU Operator's when it runs the exporter (decided by the plan). */
export function dcgmSelector(plan: StackPlan): Record<string, string> {
  return plan.gpuMetrics!.selector;
}

export function buildPrometheusConfig(plan: StackPlan): PrometheusConfig {
  const spec = plan.spec;
  const cfg: PrometheusConfig = {
    global: {
      scrape_interval: spec.monitoring.interval,
      evaluation_interval: spec.monitoring.evaluationInterval,
      external_labels: { 'inference_monitoring': `${plan.namespace}/${plan.name}` },
    },
    rule_files: [`${RULES_DIR}/*.yaml`],
    scrape_configs: [],
  };
  addSelfScrape(cfg);
  for (const m of plan.models.filter((x) => x.metricsEndpoints.length > 0)) cfg.scrape_configs.push(modelScrapeConfig(plan, m));
  for (const t of plan.targets) cfg.scrape_configs.push(...targetScrapeConfigs(t));
  if (plan.gpuMetrics) cfg.scrape_configs.push(dcgmScrapeConfig(plan));
  addOtlp(cfg);
  addRemoteWrite(cfg, plan);
  addAlerting(cfg, plan);
  return cfg;
}

/** Where Secrets the managed Prometheus reads (Alertmanager credentials) are mounted: `<dir>/<secret>/<key>`. */
export const SECRETS_DIR = '/etc/prometheus/secrets';

/** Secrets (name and key) the configuration reads files from: the Prometheus pod mounts each. */
export function prometheusSecretFiles(plan: StackPlan): Array<{ name: string; key: string }> {
  return [
    ...(plan.spec.alerting.endpoints ?? []).flatMap((e) => [e.bearerTokenSecretRef, e.caSecretRef]),
    ...(plan.spec.monitoring.remoteWrite ?? []).flatMap((r) => [r.basicAuth?.usernameSecretRef, r.basicAuth?.passwordSecretRef, r.bearerTokenSecretRef, r.tls?.caSecretRef, r.tls?.certSecretRef, r.tls?.keySecretRef]),
  ].filter((r): r is { name: string; key: string } => r !== undefined);
}

const secretFile = (r: { name: string; key: string }) => `${SECRETS_DIR}/${r.name}/${r.key}`;

function addAlerting(cfg: PrometheusConfig, plan: StackPlan): void {
  const file = (r: { name: string; key: string }) => `${SECRETS_DIR}/${r.name}/${r.key}`;
  const own = plan.endpoints.alertmanager;
  const alertmanagers: AlertmanagerTargetConfig[] = [
    ...(own ? [{ api_version: 'v2' as const, static_configs: [{ targets: [`${own.host}:${own.port}`] }] }] : []),
    ...(plan.spec.alerting.endpoints ?? []).map((e): AlertmanagerTargetConfig => {
      const u = new URL(e.url);
      const port = u.port || (u.protocol === 'https:' ? '443' : '80');
      return {
        scheme: u.protocol === 'https:' ? 'https' : 'http',
        api_version: 'v2',
        ...(u.pathname && u.pathname !== '/' ? { path_prefix: u.pathname.replace(/\/$/, '') } : {}),
        static_configs: [{ targets: [`${u.hostname}:${port}`] }],
        ...(e.bearerTokenSecretRef ? { authorization: { type: 'Bearer' as const, credentials_file: file(e.bearerTokenSecretRef) } } : {}),
        ...(e.caSecretRef ? { tls_config: { ca_file: file(e.caSecretRef) } } : {}),
      };
    }),
  ];
  if (alertmanagers.length) cfg.alerting = { alertmanagers };
}

function addSelfScrape(cfg: PrometheusConfig): void {
  cfg.scrape_configs.push({ job_name: 'prometheus', static_configs: [{ targets: [`localhost:${PROMETHEUS_PORT}`] }] });
}

/** Engines that push OTLP set these resource attributes; promoted, they become the same labels scraped series carry. */
export function addOtlp(cfg: PrometheusConfig): void {
  cfg.otlp = {
    promote_resource_attributes: [SERIES_MODEL_LABEL, SERIES_ENGINE_LABEL, 'namespace', 'pod'],
    // Keep `_total` and unit suffixes: the dashboards query e.g. batch_fill_percentage_percent.
    translation_strategy: 'UnderscoreEscapingWithSuffixes',
  };
  // OTLP pushes arrive late relative to scrape time; accept a short window out of order.
  cfg.storage = { tsdb: { out_of_order_time_window: '5m' } };
}

function addRemoteWrite(cfg: PrometheusConfig, plan: StackPlan): void {
  const rw = plan.spec.monitoring.remoteWrite ?? [];
  if (rw.length) {
    cfg.remote_write = rw.map((r) => {
      const tls = r.tls ? { ...(r.tls.caSecretRef ? { ca_file: secretFile(r.tls.caSecretRef) } : {}), ...(r.tls.certSecretRef ? { cert_file: secretFile(r.tls.certSecretRef) } : {}), ...(r.tls.keySecretRef ? { key_file: secretFile(r.tls.keySecretRef) } : {}) } : undefined;
      return {
        url: r.url,
        ...(r.name ? { name: r.name } : {}),
        ...(r.basicAuth ? { basic_auth: { username_file: secretFile(r.basicAuth.usernameSecretRef), password_file: secretFile(r.basicAuth.passwordSecretRef) } } : {}),
        ...(r.bearerTokenSecretRef ? { authorization: { type: 'Bearer' as const, credentials_file: secretFile(r.bearerTokenSecretRef) } } : {}),
        ...(tls && Object.keys(tls).length ? { tls_config: tls } : {}),
      };
    });
  }
}

