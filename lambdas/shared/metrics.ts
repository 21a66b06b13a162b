/**
 * Powertools metrics of the functions (CloudWatch EMF: one JSON log line per batch of metrics, no API call).
 * Dimensions are small enums only (policy, channel, status, outcome, reason): never a user or decision id,
 * each distinct combination is a billed custom metric.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Dimensions, MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import { METRICS_NAMESPACE } from '#infra/runtime-env.ts';

/** CloudWatch namespace of every function's metrics (the stack's dashboard and alarms read it too). */
export { METRICS_NAMESPACE };

/** The most values of one metric EMF takes in one document. */
const EMF_MAX_VALUES = 100;

/**
 * The metrics instance of a function's entry (module scope: one per container).
 * @example metrics: createMetrics('dispatch')
 */
export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}

/**
 * One count per combination of dimension values, each as its own EMF line (Powertools `singleMetric`):
 * the stored metrics of `metrics` keep their own dimensions. Zero counts are left out.
 * @example addCountsBy(metrics, 'Sends', [{ dimensions: { channel: 'email', outcome: 'sent' }, count: 3 }]);
 */
export function addCountsBy(
  metrics: Metrics,
  name: string,
  counts: Iterable<{ dimensions: Dimensions; count: number }>,
): void {
  for (const { dimensions, count } of counts) {
    if (count <= 0) continue;
    const single = metrics.singleMetric();
    single.addDimensions(dimensions);
    single.addMetric(name, MetricUnit.Count, count);
  }
}

/**
 * Many values of one metric under the same dimensions, published now in as few EMF lines as EMF allows
 * (100 values each), so CloudWatch sees every value: Average, percentiles and SampleCount are per value.
 * Metrics stored before are published first, under their own dimensions.
 * @example publishValues(metrics, 'Reward', MetricUnit.NoUnit, { policy: 'holdout' }, [0, 1, 0.3]);
 */
export function publishValues(
  metrics: Metrics,
  name: string,
  unit: Unit,
  dimensions: Dimensions,
  values: readonly number[],
): void {
  if (values.length === 0) return;
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  for (let i = 0; i < values.length; i += EMF_MAX_VALUES) {
    metrics.addDimensions(dimensions);
    for (const value of values.slice(i, i + EMF_MAX_VALUES)) metrics.addMetric(name, unit, value);
    // Powertools publishes by itself when a metric reaches 100 values (clearing the dimensions after)
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
