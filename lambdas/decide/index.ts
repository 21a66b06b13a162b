/** Lambda entry of decide: clients, the tensor backend and the model cache at module scope (one per container). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { modelTableStore } from '../shared/model-store.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createDecideHandler } from './handler.ts';
import { HeadModelCache } from './head-model-cache.ts';

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const logger = createLogger('decide');
await initTensorBackend();
const store = modelTableStore(doc, requiredEnv(process.env, TABLES.model.envVar));

export const handler = createDecideHandler({
  doc,
  usersTable: requiredEnv(process.env, TABLES.users.envVar),
  decisionsTable: requiredEnv(process.env, TABLES.decisions.envVar),
  models: new HeadModelCache({ readHead: () => store.readHead(), now: Date.now, logger }),
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
  metrics: createMetrics('decide'),
});
