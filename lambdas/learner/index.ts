/**
 * Lambda entry of the learner: clients at module scope, the rest in createLearnerHandler. Learning is plain
 * JavaScript (model/policy-learning.ts), so this bundle carries no TF.js.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { modelTableStore } from '../shared/model-store.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createLearnerHandler } from './handler.ts';

const logger = createLogger('learner');
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = createLearnerHandler({
  store: modelTableStore(doc, requiredEnv(process.env, TABLES.model.envVar)),
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
  metrics: createMetrics('learner'),
});
