/**
 * Panels and the alerts on what they show. A panel drawing an alert's signal takes its thresholds from the
 * alert's own definition (src/alerts/rules.ts, src/install/controller-rules.ts: the same objects the rule
 * files are printed from, so a spec's `alerts.kvCacheUsage: 0.9` moves the rule and the panel together) and
 * links the alert's runbook. A panel showing a related quantity (per rank, the current work-queue depth of an
 * alert on its 15-minute minimum) links the runbook without drawing a threshold that is not its own.
 * Every other panel gets one neutral step, so Grafana's default (green, red from 80) never colours a value.
 */
import { DashboardLinkBuilder, DashboardLinkType, Threshold } from '@grafana/grafana-foundation-sdk/dashboard';
import { AlertDefinition, runbookUrl } from '../alerts/rules';

/** Thresholds that judge nothing: the value in the text colour. */
export const NEUTRAL_STEPS: readonly Threshold[] = [{ value: null, color: 'text' }];

/** Where an alert's signal is below its threshold. */
export const OK_COLOR = 'green';
/** Approaching an alert's threshold (see APPROACHING_SHARE). */
export const APPROACHING_COLOR = 'orange';
/** At or beyond an alert's threshold. */
export const ALERT_COLOR = 'red';

/**
 * Where a panel turns amber on its way to an alert on `signal > threshold`: at this share of the threshold
 * (KV-cache usage with the default 0.95: amber from 0.76). Only where the panel asks for it: a rising
 * quantity whose approach is worth seeing (KV cache, queue, TTFT, errors), not a GPU's temperature.
 */
export const APPROACHING_SHARE = 0.8;

/** An alert as a panel draws it: its definition, its runbook, and whether the stack emits it. */
export interface PanelAlert {
  readonly definition: AlertDefinition;
  readonly runbookUrl: string;
  /** False where the stack's alerts are disabled (`alerts.enabled: false`): the levels stay, the alert does not fire. */
  readonly enabled: boolean;
  /** Amber from here up to the threshold. */
  readonly approaching?: number;
  /** What of the panel the alert compares, where not all of it (`p95`). @default 'this' */
  readonly reads?: string;
}

/** The alerts a dashboard's panels can refer to, by name. */
export class DashboardAlerts {
  private readonly byName: ReadonlyMap<string, AlertDefinition>;

  constructor(definitions: readonly AlertDefinition[], private readonly runbookBaseUrl: string, private readonly enabled = true) {
    this.byName = new Map(definitions.map((d) => [d.alert, d]));
  }

  /** The alert, or undefined when the dashboard's engine has none of that name (TGI exports no KV-cache usage). */
  get(alert: string, opts: { approaching?: boolean; reads?: string } = {}): PanelAlert | undefined {
    const definition = this.byName.get(alert);
    if (!definition) return undefined;
    const approaching = opts.approaching && (definition.op === '>' || definition.op === '>=') && definition.threshold > 0
      ? Number((definition.threshold * APPROACHING_SHARE).toPrecision(12)) : undefined;
    return { definition, runbookUrl: runbookUrl(this.runbookBaseUrl, alert), enabled: this.enabled, approaching, reads: opts.reads };
  }
}

/**
 * Grafana's steps (a step colours values from its own up to the next one's) for an alert's comparison. `>`
 * and `>=` alike (Grafana's steps include their value); `==` marks the value itself, for a signal with whole
 * values (a Ready flag of 0 or 1).
 */
export function alertSteps(a: PanelAlert): Threshold[] {
  const { op, threshold: t, alert } = a.definition;
  switch (op) {
    case '>':
    case '>=':
      return [{ value: null, color: OK_COLOR }, ...(a.approaching !== undefined ? [{ value: a.approaching, color: APPROACHING_COLOR }] : []), { value: t, color: ALERT_COLOR }];
    case '<':
    case '<=':
      return [{ value: null, color: ALERT_COLOR }, { value: t, color: OK_COLOR }];
    case '==':
      return [{ value: null, color: OK_COLOR }, { value: t, color: ALERT_COLOR }, { value: t + 1, color: OK_COLOR }];
    default:
      throw new Error(`alert ${alert}: a panel cannot draw the comparison '${op}'`);
  }
}

/** What a panel's description says about the alert on its signal. */
export function alertSentence(a: PanelAlert): string {
  const d = a.definition;
  const levels = d.op === '<' || d.op === '<='
    ? `Red below ${d.threshold}.`
    : d.op === '=='
      ? `Red at ${d.threshold}.`
      : `${a.approaching !== undefined ? `Amber from ${a.approaching} (${APPROACHING_SHARE * 100}% of the alert's threshold), red` : 'Red'} from ${d.threshold}.`;
  const fires = a.enabled
    ? `Alert ${d.alert} (${d.severity}) fires when ${a.reads ?? 'this'} is ${d.op} ${d.threshold} for ${d.for}`
    : `The threshold of alert ${d.alert}, which this stack does not emit (alerts.enabled is false)`;
  return `${fires}: see the panel's runbook link. ${levels}`;
}

/** What a panel's description says about an alert on a quantity next to the one it shows. */
export function relatedSentence(a: PanelAlert): string {
  return `Related alert: ${a.definition.alert} (${a.definition.summary.replace(/\.$/, '')}), whose runbook is linked.`;
}

/** A panel link to an alert's runbook (opens in a new tab). */
export function runbookLink(a: PanelAlert): DashboardLinkBuilder {
  return new DashboardLinkBuilder(`Runbook: ${a.definition.alert}`).type(DashboardLinkType.Link).url(a.runbookUrl)
    .tooltip(a.definition.summary).targetBlank(true).includeVars(false).keepTime(false).asDropdown(false).tags([]).icon('doc');
}
