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

export function recommendedAlertmanagerConfig(o: RecommendedConfigOptions): AlertmanagerConfig {
  if (!o.webhook.url === !o.webhook.urlFile) throw new Error('recommendedAlertmanagerConfig: give exactly one of webhook.url and webhook.urlFile');
  const webhook: WebhookConfig = { ...(o.webhook.url ? { url: o.webhook.url } : { url_file: o.webhook.urlFile }), send_resolved: true };
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
