/**
 * Where a panel's numbers come from, for its description: the engine's metric for each version the dashboard
 * covers (profile data: src/engines/<engine>.ts) and the engine code that defines it, and the recording rules
 * a histogram is read through.
 */
import { EngineProfile, SignalName, signalMetric } from '../engines/profile';
import { signalAlternatives } from '../promql/signals';
import { isRecorded, recordedSeries } from '../promql/recorded';

/** `Metric `vllm:kv_cache_usage_perc` (vLLM 0.33.0; defined in vllm-project/vllm vllm/v1/metrics/loggers.py).` */
export function signalSource(profile: EngineProfile, signals: readonly SignalName[], versions: readonly string[]): string {
  const metrics: string[] = [];
  const definedIn = new Set<string>();
  const recorded: string[] = [];
  for (const signal of signals) {
    const alts = signalAlternatives(profile, signal, versions);
    for (const a of alts) {
      const used = versions.filter((v) => signalMetric(profile, signal, v)?.metric === a.metric);
      const text = `\`${a.metric}\` (${profile.displayName} ${used.join(', ')})`;
      if (!metrics.includes(text)) metrics.push(text);
      definedIn.add(a.source);
    }
    if (isRecorded(signal, alts)) recorded.push(`\`${recordedSeries(signal, 'bucket')}\``);
  }
  if (!metrics.length) return '';
  const through = recorded.length ? `, read through the recording rules ${recorded.join(', ')} (and their _sum/_count)` : '';
  return `${metrics.length > 1 ? 'Metrics' : 'Metric'}: ${metrics.join(', ')}${through}; defined in ${[...definedIn].join('; ')}.`;
}
