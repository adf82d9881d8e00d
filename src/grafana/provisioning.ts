/**
 * Grafana provisioning files (datasources, dashboard providers) as types.
 * @see https://grafana.com/docs/grafana/latest/administration/provisioning/
 */

/** Provisioned datasource uids: dashboards may reference them, and imported dashboards keep working. */
export const DATASOURCE_UIDS = { prometheus: 'prometheus', tempo: 'tempo', benchmarks: 'benchmarks-postgres' } as const;

export interface Datasource {
  name: string;
  type: string;
  uid: string;
  access: 'proxy';
  url: string;
  isDefault?: boolean;
  editable: boolean;
  user?: string;
  jsonData?: Record<string, unknown>;
  /** Only `$ENV_VAR` references: Grafana expands them from its environment (set from Secrets). */
  secureJsonData?: Record<string, string>;
}

export interface DatasourcesFile {
  apiVersion: 1;
  datasources: Datasource[];
}

export interface DashboardProvidersFile {
  apiVersion: 1;
  providers: Array<{
    name: string;
    orgId: number;
    type: 'file';
    disableDeletion: boolean;
    allowUiUpdates: boolean;
    updateIntervalSeconds: number;
    options: { path: string; foldersFromFilesStructure: boolean };
  }>;
}

export interface DatasourceOptions {
  readonly prometheusUrl: string;
  /** Tempo's query URL; without it no Tempo datasource and no trace links. */
  readonly tempoUrl?: string;
  readonly benchmarks?: { readonly host: string; readonly database: string };
}

/**
 * A value Grafana reads as written: it expands `$VAR`, `${VAR}` and `$__env{VAR}` in provisioning files from its
 * environment (where the benchmark database password is), and `$$` is its escape for `$`.
 * @see https://grafana.com/docs/grafana/latest/administration/provisioning/#using-environment-variables
 */
export function literalProvisioning(value: string): string {
  return value.replace(/\$/g, '$$$$');
}

/** Env vars Grafana reads the benchmark database credentials from. */
export const BENCHMARK_DB_ENV = { user: 'BENCHMARKS_DB_USER', password: 'BENCHMARKS_DB_PASSWORD' } as const;

export function buildDatasources(opts: DatasourceOptions): DatasourcesFile {
  const datasources: Datasource[] = [{
    name: 'Prometheus',
    type: 'prometheus',
    uid: DATASOURCE_UIDS.prometheus,
    access: 'proxy',
    url: literalProvisioning(opts.prometheusUrl),
    isDefault: true,
    editable: false,
    jsonData: {
      httpMethod: 'POST',
      timeInterval: '15s',
      // Exemplars carry the trace id of a sampled request: a click opens the trace in Tempo.
      ...(opts.tempoUrl ? { exemplarTraceIdDestinations: [{ name: 'trace_id', datasourceUid: DATASOURCE_UIDS.tempo }] } : {}),
    },
  }];
  if (opts.tempoUrl) {
    datasources.push({
      name: 'Tempo',
      type: 'tempo',
      uid: DATASOURCE_UIDS.tempo,
      access: 'proxy',
      url: literalProvisioning(opts.tempoUrl),
      editable: false,
      jsonData: {
        tracesToMetrics: {
          datasourceUid: DATASOURCE_UIDS.prometheus,
          spanStartTimeShift: '-2m',
          spanEndTimeShift: '2m',
          tags: [{ key: 'service.name', value: 'service' }],
          queries: [
            { name: 'Request rate', query: 'sum(rate(traces_spanmetrics_calls_total{$$__tags}[5m]))' },
            { name: 'Latency p95', query: 'histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket{$$__tags}[5m])))' },
          ],
        },
        serviceMap: { datasourceUid: DATASOURCE_UIDS.prometheus },
        nodeGraph: { enabled: true },
      },
    });
  }
  if (opts.benchmarks) {
    datasources.push({
      name: 'Benchmarks',
      type: 'grafana-postgresql-datasource',
      uid: DATASOURCE_UIDS.benchmarks,
      access: 'proxy',
      url: literalProvisioning(opts.benchmarks.host),
      editable: false,
      // The only values Grafana expands: the credentials, from its environment (set from the Secret).
      user: `$${BENCHMARK_DB_ENV.user}`,
      jsonData: { database: literalProvisioning(opts.benchmarks.database), sslmode: 'prefer', postgresVersion: 1500 },
      secureJsonData: { password: `$${BENCHMARK_DB_ENV.password}` },
    });
  }
  return { apiVersion: 1, datasources };
}

export const DASHBOARDS_DIR = '/var/lib/grafana/dashboards';

export function buildDashboardProviders(): DashboardProvidersFile {
  return {
    apiVersion: 1,
    providers: [{
      name: 'inference-monitoring',
      orgId: 1,
      type: 'file',
      disableDeletion: true,
      allowUiUpdates: false,
      updateIntervalSeconds: 30,
      options: { path: DASHBOARDS_DIR, foldersFromFilesStructure: false },
    }],
  };
}
