/** Lambda entry of the sweeper (EventBridge schedule, every minute). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QUEUES, TABLES } from '#infra/resources.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createSweeperHandler } from './handler.ts';

const logger = createLogger('sweeper');

export const handler = createSweeperHandler({
  doc: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  sqs: new SQSClient({}),
  decisionsTable: requiredEnv(process.env, TABLES.decisions.envVar),
  dispatchQueueUrl: requiredEnv(process.env, QUEUES.dispatch.urlEnvVar),
  requestsQueueUrl: requiredEnv(process.env, QUEUES.requests.urlEnvVar),
  rewardsQueueUrl: requiredEnv(process.env, QUEUES.rewards.urlEnvVar),
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
  metrics: createMetrics('sweeper'),
});
