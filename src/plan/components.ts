/**
 * The stack's own components: their names, which of them run, their ports and in-cluster URLs, the Secrets
 * they mount (defaults applied here, once), and the GPU metrics exporter Prometheus scrapes.
 */
import { LABEL_INSTANCE, LABEL_NAME, MAX_NAME, componentSelector, objectName, stackLabels } from '../names';
import { InferenceMonitoringSpec, SpecSchema } from '../api/schema';
import { OPERATOR_PROMETHEUS_SERVICE, PORTS, otlpMetricsUrl, remoteWriteUrl, serviceHost, serviceUrl } from './endpoints';
import { GpuMetricsPlan, OperatorObjectsPlan, StackPlan } from './types';

/** Job label of GPU series (and the name label of the exporter's PodMonitor). */
export const DCGM_JOB = 'dcgm-exporter';

/** prometheus-operator runs this Prometheus version for `createPrometheus` (the one the tests build). */
export const OPERATOR_PROMETHEUS_VERSION = 'v3.16.0';

/** Labels prometheus-operator puts on the pods of a `Prometheus` (it sets them after any of ours). */
export function operatorPrometheusSelector(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': name };
}

// Keys of a Secret reference that is not given: the schema's defaults for the keys of one that is.
const grafanaAdminKeys = (SpecSchema as any).properties.grafana.properties.adminSecretRef.properties;
const alertmanagerConfigKey = (SpecSchema as any).properties.alerting.properties.alertmanager.properties.configSecretRef.properties.key;
/** Keys of the Grafana admin Secret when `grafana.adminSecretRef` is not given (the schema's defaults when it is). */
export const DEFAULT_GRAFANA_ADMIN_KEYS: { readonly userKey: string; readonly passwordKey: string } = {
  userKey: grafanaAdminKeys.userKey.default, passwordKey: grafanaAdminKeys.passwordKey.default,
};
/** Key of the Alertmanager configuration when `alerting.alertmanager.configSecretRef` is not given (the schema's default when it is). */
export const DEFAULT_ALERTMANAGER_CONFIG_KEY: string = alertmanagerConfigKey.default;

/** Names of the stack's own objects, from the base name (the resource's, DNS-1035). */
export function stackNames(base: string, spec: InferenceMonitoringSpec): StackPlan['names'] {
  const grafana = objectName([base, 'grafana']);
  return {
    // StatefulSet pods carry `controller-revision-hash: <statefulset>-<10 hex>`, a label value of at most 63:
    // the managed StatefulSet is this name, the operator's `prometheus-<this name>`.
    prometheus: objectName([base, 'prometheus'], MAX_NAME - 11 - 'prometheus-'.length),
    tempo: objectName([base, 'tempo']),
    grafana,
    dcgm: objectName([base, 'dcgm-exporter']),
    grafanaAdminSecret: spec.grafana.adminSecretRef?.name ?? objectName([base, 'grafana-admin']),
    alertmanager: objectName([base, 'alertmanager'], MAX_NAME - 11),
    alertmanagerConfigSecret: spec.alerting.alertmanager.configSecretRef?.name ?? objectName([base, 'alertmanager']),
    // The base name; when `<base>-grafana` had to be shortened (a long resource name), that shortened name,
    // as the dashboards have always been named.
    dashboards: grafana === `${base}-grafana` ? base : grafana,
  };
}

/** Where the stack's signals go and come from, and what the controller reports in status. */
export function stackEndpoints(namespace: string, spec: InferenceMonitoringSpec, names: StackPlan['names']): StackPlan['endpoints'] {
  const tracingEndpoint = spec.tracing.endpoint;
  const managed = spec.monitoring.mode === 'managed';
  const prometheus = managed ? serviceUrl(names.prometheus, namespace, PORTS.prometheus)
    : spec.monitoring.createPrometheus ? serviceUrl(OPERATOR_PROMETHEUS_SERVICE, namespace, PORTS.prometheus) : spec.monitoring.prometheusUrl!;
  return {
    prometheus,
    tempoGrpc: spec.tracing.enabled ? tracingEndpoint ?? (spec.tempo.enabled ? serviceUrl(names.tempo, namespace, PORTS.otlpGrpc) : undefined) : undefined,
    tempoHttp: spec.tracing.enabled && !tracingEndpoint && spec.tempo.enabled ? serviceUrl(names.tempo, namespace, PORTS.otlpHttp) : undefined,
    otlpMetrics: otlpMetricsUrl(prometheus),
    // The stack's own Alertmanager runs beside a Prometheus of the stack's own; a shared Prometheus has its own.
    alertmanager: spec.alerting.alertmanager.deploy && ownsPrometheus(spec) ? { host: serviceHost(names.alertmanager, namespace), port: PORTS.alertmanager } : undefined,
    grafana: spec.grafana.enabled ? serviceUrl(names.grafana, namespace, PORTS.grafana) : undefined,
    tempoQuery: spec.tempo.enabled ? serviceUrl(names.tempo, namespace, PORTS.tempoHttp) : undefined,
  };
}

/** The stack runs a Prometheus of its own (managed, or operator mode's `createPrometheus`). */
export function ownsPrometheus(spec: InferenceMonitoringSpec): boolean {
  return spec.monitoring.mode === 'managed' || spec.monitoring.createPrometheus;
}

/** The exporter Prometheus scrapes GPU metrics from: ours, or the GPU Operator's when it runs the exporter. */
export function planGpuMetrics(instance: string, namespace: string, spec: InferenceMonitoringSpec): GpuMetricsPlan | undefined {
  const gm = spec.gpuMetrics;
  if (!gm.enabled) return undefined;
  const selector = gm.exporterSelector ?? (gm.deployExporter ? componentSelector(instance, 'gpu-metrics') : { app: 'nvidia-dcgm-exporter' });
  return { selector, namespace: gm.deployExporter ? namespace : (gm.exporterNamespace ?? namespace), scrapeNamespace: gm.exporterNamespace ?? namespace, port: gm.port };
}

/** Which of the stack's components run, and what each is drawn with. */
export function planComponents(
  p: { readonly instance: string; readonly namespace: string; readonly spec: InferenceMonitoringSpec; readonly names: StackPlan['names']; readonly endpoints: StackPlan['endpoints']; readonly targetNamespaces: readonly string[] },
): StackPlan['components'] {
  const { spec, names, endpoints, namespace } = p;
  const own = ownsPrometheus(spec);
  const managed = spec.monitoring.mode === 'managed';
  const discoveryNamespaces = [...new Set([namespace, ...p.targetNamespaces,
    ...(spec.gpuMetrics.enabled && spec.gpuMetrics.exporterNamespace ? [spec.gpuMetrics.exporterNamespace] : [])])].sort();
  const admin = spec.grafana.adminSecretRef;
  return {
    prometheus: own ? {
      kind: managed ? 'managed' : 'operator',
      name: names.prometheus,
      port: PORTS.prometheus,
      // The operator labels its Prometheus pods itself (it overwrites app.kubernetes.io/instance with the Prometheus' name).
      podSelector: managed ? componentSelector(p.instance, 'prometheus') : operatorPrometheusSelector(names.prometheus),
      discoveryNamespaces,
    } : undefined,
    alertmanager: endpoints.alertmanager ? {
      name: names.alertmanager,
      port: endpoints.alertmanager.port,
      configSecret: { name: names.alertmanagerConfigSecret, key: spec.alerting.alertmanager.configSecretRef?.key ?? DEFAULT_ALERTMANAGER_CONFIG_KEY },
    } : undefined,
    tempo: spec.tempo.enabled ? {
      name: names.tempo,
      queryPort: PORTS.tempoHttp,
      otlpPorts: [PORTS.otlpGrpc, PORTS.otlpHttp],
      retention: spec.tempo.retention,
      remoteWriteUrl: own ? remoteWriteUrl(endpoints.prometheus) : undefined,
      storageSize: spec.tempo.storage.size,
      storageClassName: spec.tempo.storage.storageClassName,
    } : undefined,
    grafana: spec.grafana.enabled ? {
      name: names.grafana,
      port: PORTS.grafana,
      datasources: {
        prometheusUrl: endpoints.prometheus,
        tempoUrl: endpoints.tempoQuery,
        benchmarks: spec.benchmarks.enabled && spec.benchmarks.host ? { host: spec.benchmarks.host, database: spec.benchmarks.database } : undefined,
      },
      adminSecret: { name: names.grafanaAdminSecret, userKey: admin?.userKey ?? DEFAULT_GRAFANA_ADMIN_KEYS.userKey, passwordKey: admin?.passwordKey ?? DEFAULT_GRAFANA_ADMIN_KEYS.passwordKey },
      benchmarkSecretName: spec.benchmarks.enabled ? spec.benchmarks.secretRef?.name : undefined,
      anonymousAccess: spec.grafana.anonymousAccess,
    } : undefined,
    dcgmExporter: spec.gpuMetrics.enabled && spec.gpuMetrics.deployExporter ? { name: names.dcgm, port: spec.gpuMetrics.port } : undefined,
  };
}

/** Operator mode's object labels and names; undefined in managed mode. */
export function planOperatorObjects(instance: string, spec: InferenceMonitoringSpec, names: StackPlan['names']): OperatorObjectsPlan | undefined {
  if (spec.monitoring.mode !== 'operator') return undefined;
  // With a Prometheus of our own, kube-prometheus-stack's must not select the same monitors and rules too
  // (every target scraped twice, every alert doubled): the `release` label is only for a shared Prometheus.
  const release: Record<string, string> = spec.monitoring.createPrometheus ? {} : { release: spec.monitoring.release };
  const monitorLabels: Record<string, string> = { ...stackLabels(instance, 'podmonitor', 'monitoring'), ...release };
  return {
    monitorLabels,
    dcgmMonitorLabels: { ...monitorLabels, [LABEL_NAME]: DCGM_JOB },
    dcgmMonitorName: objectName([names.dcgm]),
    rule: { name: objectName([names.prometheus, 'rules']), labels: { ...stackLabels(instance, 'prometheusrule', 'monitoring'), ...release } },
    selectLabels: { [LABEL_INSTANCE]: monitorLabels[LABEL_INSTANCE] },
  };
}
