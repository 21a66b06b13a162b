/**
 * The metrics a handler emits, read back from what Powertools writes to stdout (CloudWatch EMF: one JSON
 * document per line, its `_aws` block names the metrics, their units and dimensions).
 */
import { vi } from 'vitest';

export interface EmittedMetric {
  namespace: string;
  name: string;
  unit: string;
  /** every dimension of the document, `service` included */
  dimensions: Record<string, string>;
  values: number[];
}

interface EmfDocument {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

/** Every metric of every EMF document in `output` (other lines are skipped). */
export function parseEmf(output: string): EmittedMetric[] {
  const metrics: EmittedMetric[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('"_aws"')) continue;
    const doc = JSON.parse(line) as EmfDocument;
    for (const directive of doc._aws.CloudWatchMetrics) {
      const dimensions = Object.fromEntries(directive.Dimensions.flat().map((d) => [d, String(doc[d])]));
      for (const { Name, Unit } of directive.Metrics) {
        const value = doc[Name] as number | number[];
        metrics.push({
          namespace: directive.Namespace,
          name: Name,
          unit: Unit,
          dimensions,
          values: Array.isArray(value) ? value : [value],
        });
      }
    }
  }
  return metrics;
}

/**
 * Runs `run` with stdout captured, and returns its result, the metrics emitted meanwhile and the whole output.
 * @example const { metrics } = await captureMetrics(() => handler(event, lambdaContext()));
 */
export async function captureMetrics<T>(
  run: () => Promise<T>,
): Promise<{ result: T; metrics: EmittedMetric[]; output: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    const result = await run();
    const output = chunks.join('');
    return { result, metrics: parseEmf(output), output };
  } finally {
    spy.mockRestore();
  }
}

/**
 * The sum of a metric's values per combination of the given dimensions, keyed `value/value/...`.
 * @example totals(metrics, 'Sends', ['channel', 'outcome']) // { 'email/sent': 1, 'sms/stopped': 2 }
 */
export function totals(
  metrics: readonly EmittedMetric[],
  name: string,
  keys: readonly string[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) {
    if (m.name !== name) continue;
    const key = keys.map((k) => m.dimensions[k] ?? '-').join('/');
    out[key] = (out[key] ?? 0) + m.values.reduce((a, b) => a + b, 0);
  }
  return out;
}
