/**
 * Lambda entry of dispatch: clients and providers at module scope, everything else in createDispatchHandler.
 *
 * The SES and SNS clients make one attempt per call (`maxAttempts: 1`) and give up on a hung request:
 * the SDK's default retry would resend a SendEmail / Publish that timed out after the provider had
 * accepted it (a second delivery). Dispatch retries only provable refusals (throttling) itself, and a
 * timed-out call becomes `maybe_sent` for that record alone instead of a Lambda timeout for the batch.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '#infra/resources.ts';
import { DISPATCH_ENV } from '#infra/runtime-env.ts';
import { configSourceFromEnv } from '../shared/config-source.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { requiredEnv } from '../shared/runtime-config.ts';
import { createDispatchHandler } from './handler.ts';
import { SesEmailProvider, SnsPushProvider, SnsSmsProvider } from './providers.ts';

/** Environment variables of the dispatch function besides the table names (infra/runtime-env.ts). */
export { DISPATCH_ENV };

const logger = createLogger('dispatch');
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const providerClientOptions = {
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
};
const ses = new SESv2Client(providerClientOptions);
const sns = new SNSClient(providerClientOptions);
const optional = (name: string) => process.env[name] || undefined;

export const handler = createDispatchHandler({
  doc,
  decisionsTable: requiredEnv(process.env, TABLES.decisions.envVar),
  usersTable: requiredEnv(process.env, TABLES.users.envVar),
  providers: {
    email: new SesEmailProvider(ses, {
      fromEmailAddress: requiredEnv(process.env, DISPATCH_ENV.fromEmailAddress),
      configurationSetName: optional(DISPATCH_ENV.configurationSetName),
    }),
    push: new SnsPushProvider(sns),
    sms: new SnsSmsProvider(sns, {
      senderId: optional(DISPATCH_ENV.smsSenderId),
      originationNumber: optional(DISPATCH_ENV.smsOriginationNumber),
    }),
  },
  configSource: configSourceFromEnv(process.env, { logger }),
  now: Date.now,
  logger,
  metrics: createMetrics('dispatch'),
});
