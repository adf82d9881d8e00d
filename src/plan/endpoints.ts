/**
 * Ports of the stack's components and the one function that builds an in-cluster URL from a Service's name,
 * namespace and port. Every URL a manifest or a status carries (Grafana's datasources, Tempo's remote write,
 * the engines' trace and OTLP metric endpoints, KEDA's Prometheus) is built here, from these ports.
 */

/** Ports the stack's components listen on (and their Services expose). */
export const PORTS = {
  /** Prometheus' web, API, OTLP and remote-write receiver port. */
  prometheus: 9090,
  /** Alertmanager's web (API) port. */
  alertmanager: 9093,
  /** Grafana's HTTP port. */
  grafana: 3000,
  /** Tempo's query (HTTP) port. */
  tempoHttp: 3200,
  /** OTLP over gRPC (Tempo's receiver). */
  otlpGrpc: 4317,
  /** OTLP over HTTP (Tempo's receiver). */
  otlpHttp: 4318,
} as const;

/** The in-cluster DNS name of a Service. */
export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc`;
}

/** The in-cluster `http://` URL of a Service port. */
export function serviceUrl(name: string, namespace: string, port: number): string {
  return `http://${serviceHost(name, namespace)}:${port}`;
}

/** prometheus-operator serves every Prometheus of a namespace behind this headless Service. */
export const OPERATOR_PROMETHEUS_SERVICE = 'prometheus-operated';

/** Prometheus' OTLP metrics receiver under its base URL. */
export const otlpMetricsUrl = (prometheusUrl: string) => `${prometheusUrl}/api/v1/otlp`;
/** Prometheus' remote-write receiver under its base URL. */
export const remoteWriteUrl = (prometheusUrl: string) => `${prometheusUrl}/api/v1/write`;
