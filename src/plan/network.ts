/**
 * The stack's NetworkPolicies as peers and ports: who may reach the stack's Prometheus, Tempo, Grafana,
 * Alertmanager, DCGM exporter and models, and (with `defaultDeny`) what each may reach.
 */
import { LABEL_INSTANCE, componentSelector, labelValue } from '../names';
import { urlPort } from '../api/url';
import { enginePorts } from './model';
import { NetworkPoliciesPlan, StackPlan } from './types';

/** Port of `host:port`, or the default. */
function hostPort(host: string, fallback: number): number {
  const m = /:(\d+)$/.exec(host);
  return m ? Number(m[1]) : fallback;
}

const sorted = (ports: Iterable<number>) => [...new Set(ports)].sort((a, b) => a - b);

/** The policies of a planned stack (everything but `networkPolicies` decided), or none when they are off. */
export function planNetworkPolicies(plan: Omit<StackPlan, 'networkPolicies'>): NetworkPoliciesPlan | undefined {
  const spec = plan.spec;
  const np = spec.networkPolicy;
  if (!np.enabled) return undefined;
  const c = plan.components;
  const group = (component: { readonly name: string; readonly port: number } | undefined, selector: Record<string, string>) =>
    component ? { name: component.name, port: component.port, selector } : undefined;
  const own = c.prometheus ? { name: c.prometheus.name, port: c.prometheus.port, selector: c.prometheus.podSelector } : undefined;
  const shared = { namespace: np.sharedPrometheus.namespace, selector: np.sharedPrometheus.podSelector };
  const scraper = own ?? shared;
  const queryPort = own ? own.port : urlPort(spec.monitoring.prometheusUrl!);
  const metricsPortsOf = (m: StackPlan['models'][number]) => new Set(m.metricsEndpoints.map((e) => e.port));
  const gpu = plan.gpuMetrics;
  return {
    namespace: plan.namespace,
    instance: plan.name,
    stackSelector: { [LABEL_INSTANCE]: labelValue(plan.name) },
    prometheus: own,
    scraper,
    queryPrometheus: { ...scraper, port: queryPort },
    autoscaler: plan.models.some((m) => m.spec.autoscaling) ? { namespace: np.autoscaler.namespace, selector: np.autoscaler.podSelector } : undefined,
    tempo: c.tempo ? { name: c.tempo.name, queryPort: c.tempo.queryPort, otlpPorts: c.tempo.otlpPorts, remoteWrites: own !== undefined, selector: componentSelector(plan.name, 'tempo') } : undefined,
    grafana: group(c.grafana, componentSelector(plan.name, 'grafana')),
    alertmanager: group(c.alertmanager, componentSelector(plan.name, 'alertmanager')),
    alertmanagerEndpointPorts: (spec.alerting.endpoints ?? []).map((e) => urlPort(e.url)),
    dcgm: group(c.dcgmExporter, componentSelector(plan.name, 'gpu-metrics')),
    scrapeTargets: [
      ...plan.models.filter((m) => m.metricsEndpoints.length > 0).map((m) => ({ selector: m.selectorLabels, ports: sorted(metricsPortsOf(m)) })),
      ...plan.targets.map((t) => ({ namespace: t.namespace, selector: t.spec.selector, ports: t.metricsEndpoints.map((e) => e.port) })),
      ...(gpu ? [{ namespace: gpu.namespace, selector: gpu.selector, ports: [gpu.port] }] : []),
    ],
    models: plan.models.map((m) => {
      const metricsPorts = metricsPortsOf(m);
      const open = [m.servicePort.port, ...enginePorts(m).map((p) => p.port).filter((p) => !metricsPorts.has(p))];
      return {
        name: m.objectName,
        selector: m.selectorLabels,
        openPorts: sorted([...open, ...(metricsPorts.has(m.servicePort.port) ? [m.servicePort.port] : [])]),
        metricsOnlyPorts: [...metricsPorts].filter((p) => p !== m.servicePort.port).sort((a, b) => a - b),
        pushesToPrometheus: m.pushesOtlpMetrics,
        // Traces go to spec.tracing.endpoint when it is set (Tempo or not), else to the stack's Tempo.
        sendsTraces: m.tracesExported && !spec.tracing.endpoint,
        sendsTracesExternally: m.tracesExported && spec.tracing.endpoint !== undefined,
        ...(m.group ? { groupPeers: true } : {}),
      };
    }),
    defaultDeny: np.defaultDeny ? {
      apiServerPorts: np.apiServerPorts,
      modelEgressPorts: np.modelEgressPorts,
      alertmanagerEgressPorts: np.alertmanagerEgressPorts,
      remoteWritePorts: sorted((own ? spec.monitoring.remoteWrite ?? [] : []).map((r) => urlPort(r.url))),
      benchmarkDatabasePort: spec.benchmarks.enabled && spec.benchmarks.host ? hostPort(spec.benchmarks.host, 5432) : undefined,
      traceCollectorPort: spec.tracing.enabled && spec.tracing.endpoint ? urlPort(spec.tracing.endpoint) : undefined,
    } : undefined,
  };
}
