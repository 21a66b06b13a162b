/**
 * What each provider answer does to a decision, with the SES and SNS clients mocked by aws-sdk-client-mock
 * (the real SDK error classes) and the decisions and users in DynamoDB Local: throttling retried then sent
 * once, throttling exhausted back to `enqueued` and handed back to SQS, ambiguous answers `maybe_sent` and
 * never retried, permanent refusals `failed` with the channel suppressed on the users item, without
 * clobbering (or being clobbered by) a concurrent ingest write; and the metrics the handler emits for them.
 */

import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import {
  InternalServiceErrorException,
  MessageRejected,
  SESv2Client,
  SendEmailCommand,
  SendingPausedException,
  TooManyRequestsException,
} from '@aws-sdk/client-sesv2';
import {
  EndpointDisabledException,
  InvalidParameterException,
  OptedOutException,
  PublishCommand,
  SNSClient,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dueShardFor } from '#infra/resources.ts';
import { type DispatchDeps, dispatchBatch, dispatchDecision } from '#lambdas/dispatch/dispatch.ts';
import { createDispatchHandler } from '#lambdas/dispatch/handler.ts';
import {
  type DispatchProviders,
  SesEmailProvider,
  SnsPushProvider,
  SnsSmsProvider,
} from '#lambdas/dispatch/providers.ts';
import { ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { createMetrics, METRICS_NAMESPACE } from '#lambdas/shared/metrics.ts';
import type { LocalStack } from '#local/stack.ts';
import { handlerDeps } from '#test/helpers/config-source.ts';
import { captureMetrics, totals } from '#test/helpers/emf.ts';
import { makeAppOpened, makeProfileUpsert, makeSqsEvent } from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import {
  dispatchDeps,
  HOUR,
  ingest,
  lambdaContext,
  NOW,
  putEnqueuedDecision,
  putReachableUser,
  quietLogger,
  readDecision,
  readUser,
} from './dispatch-fixtures.ts';

const stack = useLocalStack({ resetBeforeEach: true });
const ses = mockClient(SESv2Client);
const sns = mockClient(SNSClient);
beforeEach(() => {
  ses.reset();
  sns.reset();
});
afterEach(() => {
  ses.reset();
  sns.reset();
});

const meta = { $metadata: { httpStatusCode: 400 } };

function providers(): DispatchProviders {
  const client = { ses: new SESv2Client({ region: 'us-east-1' }), sns: new SNSClient({ region: 'us-east-1' }) };
  return {
    email: new SesEmailProvider(client.ses, { fromEmailAddress: 'news@shop.example.com' }),
    push: new SnsPushProvider(client.sns),
    sms: new SnsSmsProvider(client.sns),
  };
}

function deps(s: LocalStack, overrides: Partial<DispatchDeps> = {}): DispatchDeps {
  return dispatchDeps(s, providers(), overrides);
}

describe('throttling', () => {
  it('retries with growing jittered backoff inside the invocation and sends once', async () => {
    // Prepare
    const s = stack();
    await putReachableUser(s, 'u-1');
    await putEnqueuedDecision(s, { decisionId: 'dec_t1', userId: 'u-1', channel: 'email' });
    ses
      .on(SendEmailCommand)
      .rejectsOnce(new TooManyRequestsException({ message: 'Maximum sending rate exceeded', ...meta }))
      .rejectsOnce(new TooManyRequestsException({ message: 'Maximum sending rate exceeded', ...meta }))
      .resolves({ MessageId: 'ses-accepted' });
    const delays: number[] = [];
    // Act
    const result = await dispatchDecision(
      'dec_t1',
      deps(s, { sleep: async (ms) => void delays.push(ms), random: () => 0.999 }),
    );
    // Assess
    expect(result).toEqual({ outcome: 'sent', providerMessageId: 'ses-accepted' });
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(3);
    expect(delays).toEqual([99, 199]);
    expect(await readDecision(s, 'dec_t1')).toMatchObject({ status: 'sent', providerMessageId: 'ses-accepted' });
  });

  it('returns the decision to enqueued, hands the record back, and sends once on the redelivery', async () => {
    // Prepare: SNS throttles every push
    const s = stack();
    await putReachableUser(s, 'u-2');
    await putEnqueuedDecision(s, { decisionId: 'dec_t2', userId: 'u-2', channel: 'push' });
    sns.on(PublishCommand).rejects(new ThrottledException({ message: 'Rate exceeded', ...meta }));
    const handler = createDispatchHandler({
      ...handlerDeps(deps(s)),
      requeueLeaseMs: 10 * 60_000,
      logger: createLogger('dispatch', { logLevel: 'SILENT' }),
    });
    const event = makeSqsEvent([{ decisionId: 'dec_t2' }]);
    // Act
    const response = await handler(event, lambdaContext());
    // Assess: nothing accepted, 1 + 3 retries, back in the due index under a lease, record failed
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0].messageId }]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(4);
    const requeued = await readDecision(s, 'dec_t2');
    expect(requeued).toMatchObject({
      status: 'enqueued',
      failureReason: 'ThrottledException',
      dueShard: dueShardFor('dec_t2'),
      dueAt: NOW + 10 * 60_000,
    });
    // Act: SQS redelivers once the rate allows
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'sns-accepted' });
    const later = await dispatchDecision('dec_t2', deps(s, { now: () => NOW + 5 * 60_000 }));
    // Assess
    expect(later).toEqual({ outcome: 'sent', providerMessageId: 'sns-accepted' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    const sent = await readDecision(s, 'dec_t2');
    expect(sent).toMatchObject({ status: 'sent', sentAt: NOW + 5 * 60_000 });
    expect(sent.dueShard).toBeUndefined();
    expect(sent.failureReason).toBeUndefined();
    expect(sent.attempt).not.toBe(requeued.attempt);
  });

  it('waits without retrying in the invocation when the account cannot send (not the user)', async () => {
    const s = stack();
    await putReachableUser(s, 'u-3');
    await putEnqueuedDecision(s, { decisionId: 'dec_paused', userId: 'u-3', channel: 'email' });
    ses.on(SendEmailCommand).rejects(new SendingPausedException({ message: 'Sending paused', ...meta }));
    const result = await dispatchDecision('dec_paused', deps(s));
    expect(result).toEqual({ outcome: 'requeued', reason: 'SendingPausedException' });
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
    expect(await readDecision(s, 'dec_paused')).toMatchObject({ status: 'enqueued' });
    expect((await readUser(s, 'u-3')).state.consent.email.suppressed).toBeUndefined();
  });
});

describe('DynamoDB failures', () => {
  it('gives the claim back when the users read fails, so the redelivery still sends', async () => {
    // Prepare: the users read after the claim is throttled once
    const s = stack();
    await putReachableUser(s, 'u-11');
    await putEnqueuedDecision(s, { decisionId: 'dec_r1', userId: 'u-11', channel: 'email' });
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-after-retry' });
    let failed = false;
    const flakyDoc = {
      send: (command: unknown) => {
        if (command instanceof GetCommand && !failed) {
          failed = true;
          return Promise.reject(
            new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }),
          );
        }
        return s.clients.doc.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    // Act
    const first = await dispatchBatch(
      [{ messageId: 'm-1', body: '{"decisionId":"dec_r1"}' }],
      deps(s, { doc: flakyDoc }),
    );
    const released = await readDecision(s, 'dec_r1');
    const second = await dispatchDecision('dec_r1', deps(s, { now: () => NOW + 5 * 60_000 }));
    // Assess
    expect(first.records[0]).toMatchObject({
      retry: true,
      result: { outcome: 'error', reason: 'ProvisionedThroughputExceededException' },
    });
    expect(released).toMatchObject({ status: 'enqueued', dueShard: dueShardFor('dec_r1') });
    expect(second).toEqual({ outcome: 'sent', providerMessageId: 'ses-after-retry' });
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
  });
});

describe('ambiguous answers', () => {
  it('records maybe_sent after a 5xx and never calls the provider again', async () => {
    // Prepare
    const s = stack();
    await putReachableUser(s, 'u-4');
    await putEnqueuedDecision(s, { decisionId: 'dec_a1', userId: 'u-4', channel: 'email' });
    ses
      .on(SendEmailCommand)
      .rejects(new InternalServiceErrorException({ message: 'internal', $metadata: { httpStatusCode: 500 } }));
    // Act: the first delivery, then two redeliveries
    const first = await dispatchDecision('dec_a1', deps(s));
    const again = await dispatchDecision('dec_a1', deps(s, { now: () => NOW + HOUR }));
    const third = await dispatchDecision('dec_a1', deps(s, { now: () => NOW + 2 * HOUR }));
    // Assess
    expect(first).toEqual({ outcome: 'maybe_sent', reason: 'InternalServiceErrorException' });
    expect(again).toEqual({ outcome: 'duplicate', status: 'maybe_sent' });
    expect(third).toEqual({ outcome: 'duplicate', status: 'maybe_sent' });
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
    // the reward window is open all the same: an engagement proves the send
    expect(await readDecision(s, 'dec_a1')).toMatchObject({ status: 'maybe_sent', windowEndsAt: NOW + 24 * HOUR });
  });

  it('records maybe_sent after a socket reset', async () => {
    const s = stack();
    await putReachableUser(s, 'u-5');
    await putEnqueuedDecision(s, { decisionId: 'dec_a2', userId: 'u-5', channel: 'sms' });
    sns.on(PublishCommand).rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(await dispatchDecision('dec_a2', deps(s))).toEqual({ outcome: 'maybe_sent', reason: 'ECONNRESET' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });
});

describe('permanent refusals', () => {
  it('fails a push to a disabled endpoint, suppresses push for the user, and stops the next push', async () => {
    // Prepare
    const s = stack();
    await putReachableUser(s, 'u-6');
    const before = await readUser(s, 'u-6');
    await putEnqueuedDecision(s, { decisionId: 'dec_p1', userId: 'u-6', channel: 'push' });
    await putEnqueuedDecision(s, { decisionId: 'dec_p2', userId: 'u-6', channel: 'push' });
    sns.on(PublishCommand).rejects(new EndpointDisabledException({ message: 'Endpoint is disabled', ...meta }));
    // Act
    const result = await dispatchDecision('dec_p1', deps(s));
    const next = await dispatchDecision('dec_p2', deps(s));
    // Assess
    expect(result).toEqual({ outcome: 'failed', reason: 'EndpointDisabledException', suppressed: 'bounced' });
    expect(await readDecision(s, 'dec_p1')).toMatchObject({
      status: 'failed',
      failureReason: 'EndpointDisabledException',
    });
    const after = await readUser(s, 'u-6');
    expect(after.state.consent.push).toMatchObject({ optedIn: true, suppressed: 'bounced', changedAtMs: NOW });
    expect(after.state.consent.email.suppressed).toBeUndefined();
    expect(after.iv).toBe((before.iv ?? 0) + 1);
    expect(next).toEqual({ outcome: 'stopped', reason: 'suppressed_bounced' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('treats an opted-out phone as an unsubscribe and a rejected email as a bounce', async () => {
    const s = stack();
    await putReachableUser(s, 'u-7');
    await putEnqueuedDecision(s, { decisionId: 'dec_s1', userId: 'u-7', channel: 'sms' });
    await putEnqueuedDecision(s, { decisionId: 'dec_e1', userId: 'u-7', channel: 'email' });
    sns.on(PublishCommand).rejects(new OptedOutException({ message: 'opted out', ...meta }));
    ses.on(SendEmailCommand).rejects(new MessageRejected({ message: 'Address blacklisted.', ...meta }));
    expect(await dispatchDecision('dec_s1', deps(s))).toMatchObject({ outcome: 'failed', suppressed: 'unsubscribed' });
    expect(await dispatchDecision('dec_e1', deps(s))).toMatchObject({ outcome: 'failed', suppressed: 'bounced' });
    const { state } = await readUser(s, 'u-7');
    expect(state.consent.sms).toMatchObject({ optedIn: false, suppressed: 'unsubscribed' });
    expect(state.consent.email).toMatchObject({ optedIn: true, suppressed: 'bounced' });
    expect(state.consent.push.suppressed).toBeUndefined();
  });

  it('fails without suppressing when the payload, not the endpoint, was refused', async () => {
    const s = stack();
    await putReachableUser(s, 'u-8');
    await putEnqueuedDecision(s, { decisionId: 'dec_s2', userId: 'u-8', channel: 'sms' });
    sns
      .on(PublishCommand)
      .rejects(new InvalidParameterException({ message: 'Invalid parameter: Message too long', ...meta }));
    expect(await dispatchDecision('dec_s2', deps(s))).toEqual({
      outcome: 'failed',
      reason: 'InvalidParameterException',
    });
    expect((await readUser(s, 'u-8')).state.consent.sms.suppressed).toBeUndefined();
  });

  it('keeps the suppression when ingest read the user before it and writes after it', async () => {
    // Prepare: an ingest invocation reads the users item, then waits until dispatch has suppressed push
    const s = stack();
    await putReachableUser(s, 'u-9');
    await putEnqueuedDecision(s, { decisionId: 'dec_p3', userId: 'u-9', channel: 'push' });
    sns.on(PublishCommand).rejects(new EndpointDisabledException({ message: 'Endpoint is disabled', ...meta }));
    let release: () => void = () => {};
    const dispatched = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readBeforeDispatch: () => void = () => {};
    const ingestHasRead = new Promise<void>((resolve) => {
      readBeforeDispatch = resolve;
    });
    let reads = 0;
    const slowIngestDoc = {
      send: async (command: unknown) => {
        const result = await s.clients.doc.send(command as never);
        if (command instanceof GetCommand && reads++ === 0) {
          readBeforeDispatch();
          await dispatched;
        }
        return result;
      },
    } as unknown as DynamoDBDocumentClient;
    const opened = makeAppOpened({ userId: 'u-9', occurredAt: '2026-11-02T11:30:00Z' });
    // Act
    const ingesting = ingestBatch([{ messageId: 'm-1', body: JSON.stringify(opened) }], {
      doc: slowIngestDoc,
      usersTable: s.tableNames.users,
      features: { halfLifeDays: 14, defaultTimeZone: 'UTC' },
      now: () => NOW,
      logger: quietLogger,
    });
    await ingestHasRead;
    const result = await dispatchDecision('dec_p3', deps(s));
    release();
    const ingested = await ingesting;
    // Assess: both writes survive; ingest's first write lost the race and re-applied on a fresh read
    expect(result).toMatchObject({ outcome: 'failed', suppressed: 'bounced' });
    expect(ingested).toMatchObject({ applied: 1, failures: [] });
    expect(ingested.writeRequests).toBe(2);
    const { state } = await readUser(s, 'u-9');
    expect(state.consent.push.suppressed).toBe('bounced');
    expect(state.lastActiveMs).toBe(Date.parse('2026-11-02T11:30:00Z'));
  });

  it('does not suppress when the user gave a new endpoint while the send was failing', async () => {
    const s = stack();
    await putReachableUser(s, 'u-10');
    await putEnqueuedDecision(s, { decisionId: 'dec_p4', userId: 'u-10', channel: 'push' });
    const fresh = 'arn:aws:sns:us-east-1:000000000000:endpoint/GCM/shop-app/99999999-0000-4000-8000-000000000000';
    sns.on(PublishCommand).callsFake(async () => {
      await ingest(s, [
        makeProfileUpsert({ userId: 'u-10', occurredAt: '2026-11-02T11:45:00Z', pushEndpointArn: fresh }),
      ]);
      throw new EndpointDisabledException({ message: 'Endpoint is disabled', ...meta });
    });
    const result = await dispatchDecision('dec_p4', deps(s));
    expect(result).toEqual({ outcome: 'failed', reason: 'EndpointDisabledException' });
    expect((await readUser(s, 'u-10')).state.consent.push.suppressed).toBeUndefined();
  });
});

describe('metrics', () => {
  it('counts each settled send by channel and outcome, stops by reason, and records handed back', async () => {
    // Prepare: one decision per outcome; an email sent, a push refused for good, an abandoned push claim,
    // an SMS and an email whose window has ended; plus a copy of a record and a malformed record
    const s = stack();
    await putReachableUser(s, 'u-m');
    const ended = { notBeforeMs: NOW - 6 * HOUR, notAfterMs: NOW - HOUR };
    await putEnqueuedDecision(s, { decisionId: 'dec_m1', userId: 'u-m', channel: 'email' });
    await putEnqueuedDecision(s, { decisionId: 'dec_m2', userId: 'u-m', channel: 'push' });
    await putEnqueuedDecision(s, { decisionId: 'dec_m3', userId: 'u-m', channel: 'sms', window: ended });
    await putEnqueuedDecision(s, { decisionId: 'dec_m4', userId: 'u-m', channel: 'email', window: ended });
    await putEnqueuedDecision(s, { decisionId: 'dec_m5', userId: 'u-m', channel: 'push' });
    await s.clients.doc.send(
      new UpdateCommand({
        TableName: s.tableNames.decisions,
        Key: { decisionId: 'dec_m5' },
        UpdateExpression: 'SET #status = :sending, attempt = :token, claimedAt = :at',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':sending': 'sending', ':token': 'dead-invocation', ':at': NOW - 2 * HOUR },
      }),
    );
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-accepted' });
    sns.on(PublishCommand).rejects(new EndpointDisabledException({ message: 'Endpoint is disabled', ...meta }));
    const handler = createDispatchHandler({
      ...handlerDeps(deps(s)),
      logger: createLogger('dispatch', { logLevel: 'SILENT' }),
      metrics: createMetrics('dispatch'),
    });
    const ids = ['dec_m1', 'dec_m2', 'dec_m3', 'dec_m4', 'dec_m5', 'dec_m1'];
    const event = makeSqsEvent([...ids.map((decisionId) => ({ decisionId })), 'not json']);

    // Act
    const { result, metrics, output } = await captureMetrics(() => handler(event, lambdaContext()));

    // Assess
    expect(result.batchItemFailures).toHaveLength(1);
    expect(totals(metrics, 'Sends', ['channel', 'outcome'])).toEqual({
      'email/sent': 1,
      'push/failed': 1,
      'push/maybe_sent': 1,
      'sms/stopped': 1,
      'email/stopped': 1,
    });
    expect(totals(metrics, 'SendsStopped', ['reason'])).toEqual({ outside_window: 2 });
    expect(totals(metrics, 'DispatchRetried', [])).toEqual({ '': 1 });
    for (const m of metrics) {
      expect(m.namespace).toBe(METRICS_NAMESPACE);
      expect(m.unit).toBe('Count');
      // small enums only: never a user, decision or message id
      expect(Object.keys(m.dimensions).sort()).toEqual(
        { Sends: ['channel', 'outcome', 'service'], SendsStopped: ['reason', 'service'] }[m.name] ?? ['service'],
      );
      expect(m.dimensions.service).toBe('dispatch');
    }
    expect(output).not.toMatch(/u-m|dec_m|@example\.com|\+4915/);
  });
});
