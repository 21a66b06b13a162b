/**
 * Fixtures of the dispatch tests: users written by the real ingest, enqueued decisions as the sweeper
 * leaves them, dispatch dependencies, a log capture, and the SNS topic behind the local push / SMS sink.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { IngestEvent } from '#events/index.ts';
import { dueShardFor } from '#infra/resources.ts';
import type { DispatchDeps, DispatchLogger } from '#lambdas/dispatch/dispatch.ts';
import type { DispatchProviders } from '#lambdas/dispatch/providers.ts';
import { ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { decodeUserState } from '#lambdas/ingest/user-item.ts';
import type { LocalStack } from '#local/stack.ts';
import type { UserState } from '#model/user-state.ts';
import { makeProfileUpsert } from '#test/helpers/event-factories.ts';

export const HOUR = 3_600_000;
/** A Monday noon UTC: 13:00 in Berlin, outside the default quiet hours (21:00-08:00). */
export const NOW = Date.parse('2026-11-02T12:00:00Z');

/** Contact data of the test user: the log assertions look for exactly these strings. */
export const CONTACT = {
  email: 'lena.schmidt@example.com',
  phone: '+4915112345678',
  pushEndpointArn: 'arn:aws:sns:us-east-1:000000000000:endpoint/GCM/shop-app/5b1c0d2e-8f3a-4d6b-9c7e-1a2b3c4d5e6f',
} as const;

export const CONTENT = {
  email: { subject: 'Your basket is waiting', text: 'The shoes are still in stock.', html: '<p>The shoes.</p>' },
  push: { title: 'Still thinking?', body: '10% off until Sunday', data: { deepLink: 'shop://basket' } },
  sms: { text: 'Shop: 10% off with WELCOME10. Reply STOP to opt out' },
} as const;

export const quietLogger: DispatchLogger = { info: () => {}, warn: () => {}, error: () => {} };

export function dispatchConfig(): AnalystConfig {
  return defaultConfig();
}

const features = { halfLifeDays: 14, defaultTimeZone: 'UTC' };

/**
 * Writes events for a user through the real ingest (the users item exactly as production shapes it).
 * @example await ingest(stack, [makeProfileUpsert({ userId: 'u-1', email: CONTACT.email })]);
 */
export async function ingest(stack: LocalStack, events: IngestEvent[], now = NOW): Promise<void> {
  const outcome = await ingestBatch(
    events.map((e, i) => ({ messageId: `m-${i}`, body: JSON.stringify(e) })),
    { doc: stack.clients.doc, usersTable: stack.tableNames.users, features, now: () => now, logger: quietLogger },
  );
  if (outcome.failures.length > 0) throw new Error(`ingest refused: ${JSON.stringify(outcome.failures)}`);
}

/** A user opted in on every channel, with every contact endpoint. */
export async function putReachableUser(stack: LocalStack, userId: string): Promise<void> {
  await ingest(stack, [
    makeProfileUpsert({
      userId,
      occurredAt: '2026-11-02T09:00:00Z',
      email: CONTACT.email,
      phone: CONTACT.phone,
      pushEndpointArn: CONTACT.pushEndpointArn,
    }),
  ]);
}

export async function readUser(stack: LocalStack, userId: string): Promise<{ state: UserState; iv?: number }> {
  const { Item } = await stack.clients.doc.send(
    new GetCommand({ TableName: stack.tableNames.users, Key: { userId }, ConsistentRead: true }),
  );
  return { state: decodeUserState(Item as never, userId), iv: Item?.iv as number | undefined };
}

export interface DecisionSpec {
  decisionId: string;
  userId: string;
  channel: ChannelName;
  kind?: string;
  window?: { notBeforeMs: number; notAfterMs: number };
  ignoreQuietHours?: boolean;
}

/**
 * A decision as the sweeper leaves it: `enqueued`, still in the due index under its lease.
 * @example await putEnqueuedDecision(stack, { decisionId: 'dec_r1', userId: 'u-1', channel: 'email' });
 */
export async function putEnqueuedDecision(stack: LocalStack, spec: DecisionSpec): Promise<void> {
  const window = spec.window ?? { notBeforeMs: NOW - 6 * HOUR, notAfterMs: NOW + 48 * HOUR };
  await stack.clients.doc.send(
    new PutCommand({
      TableName: stack.tableNames.decisions,
      Item: {
        decisionId: spec.decisionId,
        requestId: spec.decisionId.replace(/^dec_/, ''),
        userId: spec.userId,
        campaignId: 'winback-2026-11',
        kind: spec.kind ?? 'promotional',
        status: 'enqueued',
        channel: spec.channel,
        slotIndex: 12,
        armIndex: 12,
        sendAt: NOW,
        decidedAt: NOW - 2 * HOUR,
        context: { window, ...(spec.ignoreQuietHours && { ignoreQuietHours: true }) },
        content: CONTENT[spec.channel],
        dueShard: dueShardFor(spec.decisionId),
        dueAt: NOW + 5 * 60_000,
      },
    }),
  );
}

export async function readDecision(stack: LocalStack, decisionId: string): Promise<Record<string, unknown>> {
  const { Item } = await stack.clients.doc.send(
    new GetCommand({ TableName: stack.tableNames.decisions, Key: { decisionId }, ConsistentRead: true }),
  );
  if (!Item) throw new Error(`no decision ${decisionId}`);
  return Item;
}

/** Dispatch dependencies on the stack, no sleeping between throttled attempts. */
export function dispatchDeps(
  stack: LocalStack,
  providers: DispatchProviders,
  overrides: Partial<DispatchDeps> = {},
): DispatchDeps {
  return {
    doc: stack.clients.doc,
    decisionsTable: stack.tableNames.decisions,
    usersTable: stack.tableNames.users,
    providers,
    config: dispatchConfig(),
    now: () => NOW,
    logger: quietLogger,
    sleep: async () => {},
    ...overrides,
  };
}

/**
 * Captures everything written to stdout / stderr (Powertools: info to stdout, warnings and errors to
 * stderr) and through the global console (which vitest reroutes) until `stop()`.
 * @example const log = captureOutput(); ...; const text = log.stop();
 */
export function captureOutput(): { stop: () => string } {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const fromConsole = (...args: unknown[]) => {
    lines.push(`${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation(fromConsole),
    ),
  ];
  return {
    stop: () => {
      for (const spy of spies) spy.mockRestore();
      return lines.join('');
    },
  };
}

export { createSinkTopic, drainSink, type SinkMessage, type SinkTopic } from '#local/sink.ts';

/** A Lambda context for calling a middy-wrapped handler directly. */
export function lambdaContext(): Context {
  const unsupported = () => {
    throw new Error('callback-style context methods are not supported');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'dispatch',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:dispatch',
    memoryLimitInMB: '1024',
    awsRequestId: 'test-request',
    logGroupName: '/aws/lambda/dispatch',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30_000,
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
