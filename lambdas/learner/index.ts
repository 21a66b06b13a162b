/** Lambda entry of the learner: clients and the tensor backend at module scope, the rest in createLearnerHandler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { modelTableStore } from '../shared/model-store.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createLearnerHandler } from './handler.ts';

const logger = createLogger('learner');
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
// learning is plain arithmetic, but a NeuralLinear retrain runs on tensors
await initTensorBackend();

export const handler = createLearnerHandler({
  store: modelTableStore(doc, requiredEnv(process.env, TABLES.model.envVar)),
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
  metrics: createMetrics('learner'),
});
