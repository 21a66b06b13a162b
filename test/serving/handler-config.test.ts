/**
 * The handlers read the config from their ConfigSource at the start of every batch, so a config deployed
 * while a container lives reaches the next batch without a redeploy; each batch logs the version it ran under.
 * No AWS calls: the learner writes to an in-memory store, ingest and dispatch get records refused before
 * any table is read.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { AnalystConfig } from '#config/schema.ts';
import { createDispatchHandler } from '#lambdas/dispatch/handler.ts';
import type { DispatchProviders } from '#lambdas/dispatch/providers.ts';
import { createIngestHandler } from '#lambdas/ingest/handler.ts';
import { createLearnerHandler } from '#lambdas/learner/handler.ts';
import type { LearnerModelStore, LearnerModelVersion } from '#lambdas/learner/learner.ts';
import type { ConfigSource } from '#lambdas/shared/config-source.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { makeSqsEvent } from '#test/helpers/event-factories.ts';
import { lambdaContext } from './dispatch-fixtures.ts';
import { featureRow, rewardMessage, T0, testConfig } from './rewards-fixtures.ts';

beforeAll(async () => {
  await initTensorBackend('cpu');
});

const configA: AnalystConfig = { ...testConfig({}, { algorithm: 'linucb', alpha: 0.5 }), version: 'cfg-a' };
const configB: AnalystConfig = { ...configA, version: 'cfg-b' };

/** Serves `configs` one per call (the last one again after that), counting the calls. */
function deployedInTurn(...configs: AnalystConfig[]): ConfigSource & { calls: number } {
  const source = {
    calls: 0,
    current: async () => configs[Math.min(source.calls++, configs.length - 1)],
  };
  return source;
}

function quietLogger(service: string) {
  const logger = createLogger(service, { logLevel: 'SILENT' });
  const info = vi.spyOn(logger, 'info');
  const versionsLogged = (message: string) =>
    info.mock.calls
      .filter(([m]) => m === message)
      .map(([, extra]) => (extra as unknown as { configVersion: string }).configVersion);
  return { logger, versionsLogged };
}

// never called: every record below is refused before a table is touched
const noDoc = {
  send: () => {
    throw new Error('no table access expected');
  },
} as unknown as DynamoDBDocumentClient;

describe('handlers take the config of each batch from their ConfigSource', () => {
  it('learner: each batch learns under the config current at its start', async () => {
    // Prepare
    const written: LearnerModelVersion[] = [];
    const store: LearnerModelStore = {
      modelId: 'in-memory',
      readHead: async () => written.at(-1),
      writeVersion: async (next) => {
        written.push(next);
        return true;
      },
    };
    const configSource = deployedInTurn(configA, configB);
    const { logger, versionsLogged } = quietLogger('learner-test');
    const handler = createLearnerHandler({ store, configSource, now: () => T0, logger });
    const rng = new Rng(5);
    const batch = (id: string) => makeSqsEvent([JSON.stringify(rewardMessage(id, featureRow(rng), 1))]);
    // Act
    await handler(batch('dec-1'), lambdaContext());
    await handler(batch('dec-2'), lambdaContext());
    // Assess
    expect(configSource.calls).toBe(2);
    expect(written.map((v) => v.state.configVersion)).toEqual(['cfg-a', 'cfg-b']);
    expect(versionsLogged('reward batch learned')).toEqual(['cfg-a', 'cfg-b']);
  });

  it('ingest: one config read and one logged version per batch', async () => {
    // Prepare
    const configSource = deployedInTurn(configA, configB);
    const { logger, versionsLogged } = quietLogger('ingest-test');
    const handler = createIngestHandler({ doc: noDoc, usersTable: 'users', configSource, now: () => T0, logger });
    // Act
    const first = await handler(makeSqsEvent(['not json']), lambdaContext());
    await handler(makeSqsEvent(['not json', '{}']), lambdaContext());
    // Assess
    expect(first.batchItemFailures).toHaveLength(1);
    expect(configSource.calls).toBe(2);
    expect(versionsLogged('batch applied')).toEqual(['cfg-a', 'cfg-b']);
  });

  it('dispatch: one config read and one logged version per batch', async () => {
    // Prepare
    const configSource = deployedInTurn(configA, configB);
    const { logger, versionsLogged } = quietLogger('dispatch-test');
    const handler = createDispatchHandler({
      doc: noDoc,
      decisionsTable: 'decisions',
      usersTable: 'users',
      providers: {} as DispatchProviders,
      configSource,
      now: () => T0,
      logger,
    });
    // Act
    const first = await handler(makeSqsEvent(['not json']), lambdaContext());
    await handler(makeSqsEvent(['{"decisionId": 7}']), lambdaContext());
    // Assess
    expect(first.batchItemFailures).toHaveLength(1);
    expect(configSource.calls).toBe(2);
    expect(versionsLogged('dispatch batch settled')).toEqual(['cfg-a', 'cfg-b']);
  });

  it('a config source that cannot serve fails the batch as a whole (SQS redelivers it)', async () => {
    // Prepare
    const configSource: ConfigSource = {
      current: async () => {
        throw new Error('STO_CONFIG_JSON is not valid');
      },
    };
    const { logger } = quietLogger('ingest-test');
    const handler = createIngestHandler({ doc: noDoc, usersTable: 'users', configSource, now: () => T0, logger });
    // Act + Assess
    await expect(handler(makeSqsEvent(['not json']), lambdaContext())).rejects.toThrow('STO_CONFIG_JSON');
  });
});
