/**
 * Alertmanager's configuration (`alertmanager.yaml`) as types, and the routing
 * this project recommends: alerts grouped by `namespace`, `model` and alert
 * name, critical ones repeated sooner, and an unavailable or GPU-failing model's
 * latency alerts inhibited (they only restate the outage). The configuration
 * belongs to the user (it names receivers and their credentials): the stack
 * mounts the user's Secret; `inference-monitoring alertmanager-config` prints
 * this as a starting point, with credentials read from files.
 * @see https://prometheus.io/docs/alerting/latest/configuration/
 */

export interface AlertmanagerConfig {
  global?: { resolve_timeout?: string };
  route: Route;
  receivers: Receiver[];
  inhibit_rules?: InhibitRule[];
}

export interface Route {
  receiver?: string;
  group_by?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  /** Label matchers in Alertmanager's syntax, e.g. `severity="critical"`. */
  matchers?: string[];
  continue?: boolean;
  routes?: Route[];
}

export interface Receiver {
  name: string;
  webhook_configs?: WebhookConfig[];
}

export interface WebhookConfig {
  /** The URL, or (preferred: it often carries a token) a file holding it. */
  url?: string;
  url_file?: string;
  send_resolved?: boolean;
  max_alerts?: number;
}

export interface InhibitRule {
  source_matchers: string[];
  target_matchers: string[];
  equal: string[];
}

/** Alerts that mean a model is down or its GPU failing. */
export const OUTAGE_ALERTS = ['InferenceTargetDown', 'InferenceErrorRateHigh', 'InferenceSLOAvailabilityBudgetBurn', 'GpuXidError'] as const;
/** Alerts about a model's latency and queueing, which an outage explains. */
export const LATENCY_ALERTS = ['InferenceTimeToFirstTokenHigh', 'InferenceQueueBuildUp', 'InferenceKVCacheSaturated', 'InferencePreemptions', 'InferenceSLOTtftBudgetBurn', 'InferenceSLOInterTokenLatencyBudgetBurn'] as const;

export interface RecommendedConfigOptions {
  /** Webhook receiving every alert (a pager, chat bridge, incident tool); give `url` or `urlFile`. */
  readonly webhook: { readonly url?: string; readonly urlFile?: string };
  /** @default '30s' */
  readonly groupWait?: string;
  /** @default '5m' */
  readonly groupInterval?: string;
  /** @default '4h' (critical: '1h') */
  readonly repeatInterval?: string;
}

const alternation = (names: readonly string[]) => `alertname=~"${names.join('|')}"`;

/**
 * Why Alertmanager would refuse `url` as a webhook URL, or undefined when it accepts it. Alertmanager
 * parses it with Go's `net/url` and wants the http or https scheme and a host; that parser also refuses
 * `%` not followed by two hex digits, spaces and `\` in the host, and control characters. Beyond that,
 * a port must be at most 65535 (Alertmanager accepts more, and then fails every notification) and
 * whitespace is refused anywhere (Alertmanager accepts it in a path: most likely a paste error).
 * @see https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 */
export function webhookUrlProblem(url: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(url)) return 'must not contain whitespace or control characters';
  const m = /^(https?):\/\/([^/?#]*)/i.exec(url);
  if (!m) return 'must be an http:// or https:// URL';
  const authority = m[2];
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.startsWith('[') && !hostPort.includes(']')) return 'has a [ without ] in its host';
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:[^:]*$/, '');
  if (!host || host === '[]') return 'must name a host';
  if (url.includes('\\')) return 'must not contain a backslash';
  if (/%(?![0-9a-fA-F]{2})/.test(url)) return 'has a % that is not followed by two hex digits (escape it as %25)';
  const port = hostPort.slice(host.length);
  if (port && !/^:[0-9]*$/.test(port)) return `has an invalid port ${JSON.stringify(port.slice(1))}`;
  if (port.length > 1 && Number(port.slice(1)) > 65535) return `has port ${port.slice(1)}, beyond 65535`;
  try {
    new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  return undefined;
}

/** Why Alertmanager could not use `file` as a `url_file`, or undefined. */
export function webhookUrlFileProblem(file: string): string | undefined {
  if (!file) return 'must not be empty';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(file)) return 'must not contain control characters';
  return undefined;
}

export function recommendedAlertmanagerConfig(o: RecommendedConfigOptions): AlertmanagerConfig {
  if ((o.webhook.url === undefined) === (o.webhook.urlFile === undefined)) throw new Error('recommendedAlertmanagerConfig: give exactly one of webhook.url and webhook.urlFile');
  const problem = o.webhook.url !== undefined ? webhookUrlProblem(o.webhook.url) : webhookUrlFileProblem(o.webhook.urlFile!);
  if (problem) throw new Error(`recommendedAlertmanagerConfig: webhook.${o.webhook.url !== undefined ? 'url' : 'urlFile'}: Invalid value: ${JSON.stringify(o.webhook.url ?? o.webhook.urlFile)}: ${problem}`);
  const webhook: WebhookConfig = { ...(o.webhook.url !== undefined ? { url: o.webhook.url } : { url_file: o.webhook.urlFile }), send_resolved: true };
  return {
    route: {
      receiver: 'inference-oncall',
      group_by: ['namespace', 'model', 'alertname'],
      group_wait: o.groupWait ?? '30s',
      group_interval: o.groupInterval ?? '5m',
      repeat_interval: o.repeatInterval ?? '4h',
      routes: [{ matchers: ['severity="critical"'], receiver: 'inference-oncall', repeat_interval: '1h' }],
    },
    receivers: [{ name: 'inference-oncall', webhook_configs: [webhook] }],
    inhibit_rules: [{
      source_matchers: ['severity="critical"', alternation(OUTAGE_ALERTS)],
      target_matchers: [alternation(LATENCY_ALERTS)],
      equal: ['namespace', 'model'],
    }],
  };
}
