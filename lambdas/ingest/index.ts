/** Lambda entry of ingest: clients at module scope, everything else in createIngestHandler. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { createLogger } from '../shared/logger.ts';
import { requiredEnv, runtimeConfig } from '../shared/runtime-config.ts';
import { createIngestHandler } from './handler.ts';

const config = runtimeConfig(process.env);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = createIngestHandler({
  doc,
  usersTable: requiredEnv(process.env, TABLES.users.envVar),
  features: { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone },
  now: Date.now,
  logger: createLogger('ingest'),
});
