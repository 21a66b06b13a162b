/** Lambda entry of ingest: clients at module scope, everything else in createIngestHandler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createIngestHandler } from './handler.ts';

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const logger = createLogger('ingest');

export const handler = createIngestHandler({
  doc,
  usersTable: requiredEnv(process.env, TABLES.users.envVar),
  // engagement events carrying a decisionId count towards that decision's reward
  attribution: { decisionsTable: requiredEnv(process.env, TABLES.decisions.envVar) },
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
});
