/**
 * Sweeper Lambda, on an EventBridge schedule (every minute): due sends to dispatch, deferred requests back
 * to decide, ended reward windows closed. Thin: `sweep` does the work.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DecisionPolicy } from '../rewards/close.ts';
import type { ConfigSource } from '../shared/config-source.ts';
import { publishValues } from '../shared/metrics.ts';
import { type SweeperDeps, type SweepOutcome, sweep } from './sweeper.ts';

export type SweeperHandlerDeps = Omit<SweeperDeps, 'config' | 'logger'> & {
  configSource: ConfigSource;
  logger: Logger;
  metrics?: Metrics;
};

/** What one run did, returned to the scheduler (visible in the Lambda's logs and tests). */
export type SweepSummary = Omit<SweepOutcome, 'latenessMs' | 'close'> & {
  latenessP50Ms?: number;
  latenessMaxMs?: number;
  rewardsClosed: number;
};

/** @example export const handler = createSweeperHandler({ doc, sqs, decisionsTable, ..., configSource, now: Date.now, logger }); */
export function createSweeperHandler(deps: SweeperHandlerDeps) {
  const handle = async (): Promise<SweepSummary> => {
    const config = await deps.configSource.current();
    const outcome = await sweep({ ...deps, config });
    const sorted = [...outcome.latenessMs].sort((a, b) => a - b);
    const { latenessMs: _lateness, close, ...counts } = outcome;
    const summary: SweepSummary = {
      ...counts,
      rewardsClosed: close?.closed ?? 0,
      ...(sorted.length > 0 && {
        latenessP50Ms: sorted[Math.floor((sorted.length - 1) / 2)],
        latenessMaxMs: sorted[sorted.length - 1],
      }),
    };
    if (deps.metrics) {
      // each closed decision's reward as one value under its policy: CloudWatch's Average is per decision
      for (const policy of ['bandit', 'holdout'] as const satisfies readonly DecisionPolicy[]) {
        const rewards = close?.rewardByPolicy[policy].rewards ?? [];
        publishValues(deps.metrics, 'Reward', MetricUnit.NoUnit, { policy }, rewards);
      }
      deps.metrics.addMetric('SendsEnqueued', MetricUnit.Count, outcome.enqueued);
      deps.metrics.addMetric('RequestsRedecided', MetricUnit.Count, outcome.redecided);
      deps.metrics.addMetric('RewardsClosed', MetricUnit.Count, summary.rewardsClosed);
      if (summary.latenessMaxMs !== undefined) {
        deps.metrics.addMetric('SweepLatenessMax', MetricUnit.Milliseconds, summary.latenessMaxMs);
      }
    }
    return summary;
  };
  const wrapped = middy(handle).use(injectLambdaContext(deps.logger));
  return deps.metrics ? wrapped.use(logMetrics(deps.metrics)) : wrapped;
}
