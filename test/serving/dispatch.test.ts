/**
 * Dispatch on the local stack: DynamoDB Local, the dispatch queue in fauxqs driven like Lambda's event
 * source, real SES (aws-ses-v2-local, whose inbox we read) and the topic-backed push / SMS sink.
 * At most one send per decision whatever the queue redelivers or the function crashes, the re-check at
 * send time, and no contact data in any log line.
 */
import { BadRequestException } from '@aws-sdk/client-sesv2';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMAIL_ADDRESS_PATTERN, PHONE_NUMBER_PATTERN } from '#events/index.ts';
import { type DispatchDeps, dispatchBatch, dispatchDecision } from '#lambdas/dispatch/dispatch.ts';
import { createDispatchHandler } from '#lambdas/dispatch/handler.ts';
import {
  type ChannelProvider,
  DECISION_ID_HEADER,
  type DispatchProviders,
  type ProviderSend,
  SesEmailProvider,
  TopicBackedPushSmsSinkForLocalStack,
} from '#lambdas/dispatch/providers.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { createQueuePoller, type SqsEventSourcePoller } from '#local/poller.ts';
import { readSentEmails } from '#local/ses-inbox.ts';
import type { LocalStack } from '#local/stack.ts';
import { handlerDeps } from '#test/helpers/config-source.ts';
import { makeProfileUpsert, makeUnsubscribed } from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import {
  CONTACT,
  captureOutput,
  createSinkTopic,
  dispatchDeps,
  drainSink,
  HOUR,
  ingest,
  NOW,
  putEnqueuedDecision,
  putReachableUser,
  readDecision,
  type SinkTopic,
} from './dispatch-fixtures.ts';

const stack = useLocalStack({ resetBeforeEach: true });
const FROM = 'news@shop.example.com';

let sink: SinkTopic;
let pollers: SqsEventSourcePoller[] = [];
beforeEach(async () => {
  sink = await createSinkTopic(stack(), `sink-${Math.random().toString(36).slice(2, 8)}`);
});
afterEach(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  pollers = [];
});

/** The local stack's providers: real SES emulator for email, the topic-backed sink for push and SMS. */
function localProviders(s: LocalStack): DispatchProviders & { calls: ProviderSend[] } {
  const calls: ProviderSend[] = [];
  const email = new SesEmailProvider(s.clients.sesv2, { fromEmailAddress: FROM });
  const topic = new TopicBackedPushSmsSinkForLocalStack(s.clients.sns, sink.topicArn);
  const counted = <S extends ProviderSend>(p: ChannelProvider<S>): ChannelProvider<S> => ({
    send: (m) => {
      calls.push(m);
      return p.send(m);
    },
  });
  return { email: counted(email), push: counted(topic), sms: counted(topic), calls };
}

async function sendDispatchMessages(s: LocalStack, decisionIds: string[]): Promise<void> {
  for (let i = 0; i < decisionIds.length; i += 10) {
    await s.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: s.queueUrls.dispatch,
        Entries: decisionIds.slice(i, i + 10).map((decisionId, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify({ decisionId }),
        })),
      }),
    );
  }
}

function startDispatch(
  s: LocalStack,
  deps: DispatchDeps,
  options: { timeoutMs?: number; logLevel?: string } = {},
): SqsEventSourcePoller {
  const logger = createLogger('dispatch', { logLevel: options.logLevel ?? 'INFO' });
  const poller = createQueuePoller(s, 'dispatch', createDispatchHandler({ ...handlerDeps(deps), logger }), {
    visibilityTimeoutSeconds: 1,
    onError: () => {},
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  }).start();
  pollers.push(poller);
  return poller;
}

describe('dispatch on the local stack', () => {
  it('sends each channel once through the queue, records the outcome, and logs no contact data', async () => {
    // Prepare: one user reachable on every channel, one decision per channel, every message twice;
    // a second user whose send the provider refuses with an error quoting the address (as SES does),
    // and a third one stopped by the re-check
    const s = stack();
    await putReachableUser(s, 'user-1');
    await putReachableUser(s, 'user-1b');
    await putReachableUser(s, 'user-1c');
    await ingest(s, [makeUnsubscribed({ userId: 'user-1c', channel: 'sms', occurredAt: '2026-11-02T11:00:00Z' })]);
    const ids = { email: 'dec_req:email.1', push: 'dec_req:push.1', sms: 'dec_req:sms.1' } as const;
    for (const channel of ['email', 'push', 'sms'] as const) {
      await putEnqueuedDecision(s, {
        decisionId: ids[channel],
        userId: 'user-1',
        channel,
        kind: channel === 'sms' ? 'transactional' : 'promotional',
      });
    }
    await putEnqueuedDecision(s, { decisionId: 'dec_refused', userId: 'user-1b', channel: 'email' });
    await putEnqueuedDecision(s, { decisionId: 'dec_stopped', userId: 'user-1c', channel: 'sms' });
    const providers = localProviders(s);
    const realEmail = providers.email;
    providers.email = {
      send: (m) =>
        m.decisionId === 'dec_refused'
          ? Promise.reject(new BadRequestException({ message: `Illegal address: ${m.to}`, $metadata: {} }))
          : realEmail.send(m),
    };
    const log = captureOutput();
    // Act
    await sendDispatchMessages(s, [...Object.values(ids), ...Object.values(ids), 'dec_refused', 'dec_stopped']);
    const poller = startDispatch(s, dispatchDeps(s, providers));
    await poller.drain({ timeoutMs: 30_000 });
    const output = log.stop();
    // Assess: the SES inbox has the email exactly once, with the decision id header
    const emails = await readSentEmails(s, { to: CONTACT.email });
    expect(emails).toHaveLength(1);
    expect(emails[0].from).toBe(FROM);
    expect(emails[0].subject).toBe('Your basket is waiting');
    expect(emails[0].headers).toContainEqual({ name: DECISION_ID_HEADER, value: ids.email });
    // the sink has push and SMS exactly once each
    const published = await drainSink(s, sink);
    expect(published.map((m) => `${m.channel}:${m.decisionId}`).sort()).toEqual([`push:${ids.push}`, `sms:${ids.sms}`]);
    expect(providers.calls).toHaveLength(3);
    // each decision is sent, with the provider's id, its reward window open, out of the due index
    const email = await readDecision(s, ids.email);
    expect(email).toMatchObject({ status: 'sent', providerMessageId: emails[0].messageId, sentAt: NOW });
    expect(email.windowEndsAt).toBe(NOW + 24 * HOUR);
    expect(email.rewardShard).toMatch(/^reward#\d$/);
    expect(email.dueShard).toBeUndefined();
    for (const id of [ids.push, ids.sms]) expect(await readDecision(s, id)).toMatchObject({ status: 'sent' });
    expect(await readDecision(s, 'dec_refused')).toMatchObject({ status: 'failed', failureReason: 'InvalidAddress' });
    expect(await readDecision(s, 'dec_stopped')).toMatchObject({ status: 'stopped' });
    // the log shows the sends, the refusal and the stop, and no address, number or endpoint
    expect(output).toContain(ids.email);
    expect(output).toContain('"sent"');
    expect(output).toContain('dec_refused');
    expect(output).toContain('suppressed_unsubscribed');
    for (const secret of Object.values(CONTACT)) expect(output).not.toContain(secret);
    expect(output).not.toMatch(EMAIL_ADDRESS_PATTERN);
    expect(output).not.toMatch(PHONE_NUMBER_PATTERN);
  });

  it('sends once when copies of one message are dispatched concurrently and again later', async () => {
    // Prepare
    const s = stack();
    await putReachableUser(s, 'user-2');
    await putEnqueuedDecision(s, { decisionId: 'dec_dup', userId: 'user-2', channel: 'email' });
    const providers = localProviders(s);
    const deps = dispatchDeps(s, providers);
    // Act: five invocations at once, then two redeliveries after the visibility timeout
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        dispatchBatch([{ messageId: `m-${i}`, body: '{"decisionId":"dec_dup"}' }], deps),
      ),
    );
    const later = { ...deps, now: () => NOW + 10 * 60_000 };
    const redelivered = await dispatchBatch(
      [
        { messageId: 'm-5', body: '{"decisionId":"dec_dup"}' },
        { messageId: 'm-6', body: '{"decisionId":"dec_dup"}' },
      ],
      later,
    );
    // Assess
    const outcomes = concurrent.map((o) => o.records[0].result.outcome);
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(1);
    expect(outcomes.every((o) => ['sent', 'in_flight', 'duplicate'].includes(o))).toBe(true);
    expect(redelivered.records.map((r) => r.result.outcome)).toEqual(['duplicate', 'duplicate']);
    expect(providers.calls).toHaveLength(1);
    expect(await readSentEmails(s, { to: CONTACT.email })).toHaveLength(1);
    expect(await readDecision(s, 'dec_dup')).toMatchObject({ status: 'sent' });
  });

  it('records maybe_sent and never sends when the function dies after its claim', async () => {
    // Prepare: the first invocation hangs right after the claim (its users read never returns) until
    // the Lambda timeout; the clock runs, so the redelivery finds the claim abandoned
    const s = stack();
    await putReachableUser(s, 'user-3');
    await putEnqueuedDecision(s, { decisionId: 'dec_crash', userId: 'user-3', channel: 'email' });
    const providers = localProviders(s);
    let hung = 0;
    const crashingDoc = {
      send: (command: unknown) => {
        if (command instanceof GetCommand && hung === 0) {
          hung++;
          return new Promise(() => {});
        }
        return s.clients.doc.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const started = Date.now();
    const deps = dispatchDeps(s, providers, {
      doc: crashingDoc,
      now: () => NOW + (Date.now() - started),
      abandonedClaimMs: 500,
    });
    // Act
    await sendDispatchMessages(s, ['dec_crash']);
    const poller = startDispatch(s, deps, { timeoutMs: 700, logLevel: 'SILENT' });
    await poller.drain({ timeoutMs: 30_000 });
    // Assess
    expect(hung).toBe(1);
    expect(poller.stats.failedBatches).toBeGreaterThanOrEqual(1);
    expect(await readDecision(s, 'dec_crash')).toMatchObject({
      status: 'maybe_sent',
      failureReason: 'claim_abandoned',
    });
    expect(providers.calls).toHaveLength(0);
    expect(await readSentEmails(s)).toHaveLength(0);
  });

  it('stops a send when the user unsubscribed between the decision and the send', async () => {
    // Prepare: decided while subscribed; the unsubscribe arrives through ingest before the send
    const s = stack();
    await putReachableUser(s, 'user-4');
    await putEnqueuedDecision(s, { decisionId: 'dec_unsub', userId: 'user-4', channel: 'email' });
    await ingest(s, [makeUnsubscribed({ userId: 'user-4', channel: 'email', occurredAt: '2026-11-02T11:00:00Z' })]);
    const providers = localProviders(s);
    // Act
    const result = await dispatchDecision('dec_unsub', dispatchDeps(s, providers));
    // Assess
    expect(result).toEqual({ outcome: 'stopped', reason: 'suppressed_unsubscribed' });
    expect(await readDecision(s, 'dec_unsub')).toMatchObject({
      status: 'stopped',
      stopReason: 'suppressed_unsubscribed',
    });
    expect(providers.calls).toHaveLength(0);
    expect(await readSentEmails(s)).toHaveLength(0);
  });

  it('re-checks quiet hours, the window and the endpoint at the real send instant', async () => {
    const s = stack();
    await putReachableUser(s, 'user-5'); // Europe/Berlin, quiet 21:00-08:00
    await ingest(s, [makeProfileUpsert({ userId: 'user-6', occurredAt: '2026-11-02T09:00:00Z' })]); // no endpoints
    const lateEvening = Date.parse('2026-11-02T21:30:00Z'); // 22:30 in Berlin
    await putEnqueuedDecision(s, { decisionId: 'dec_quiet', userId: 'user-5', channel: 'push' });
    await putEnqueuedDecision(s, {
      decisionId: 'dec_reset',
      userId: 'user-5',
      channel: 'sms',
      kind: 'transactional',
      ignoreQuietHours: true,
    });
    await putEnqueuedDecision(s, {
      decisionId: 'dec_late',
      userId: 'user-5',
      channel: 'email',
      window: { notBeforeMs: NOW - 48 * HOUR, notAfterMs: NOW - HOUR },
    });
    await putEnqueuedDecision(s, { decisionId: 'dec_noaddr', userId: 'user-6', channel: 'email' });
    const providers = localProviders(s);
    // Act
    const atNight = dispatchDeps(s, providers, { now: () => lateEvening });
    const quiet = await dispatchDecision('dec_quiet', atNight);
    const reset = await dispatchDecision('dec_reset', atNight);
    const late = await dispatchDecision('dec_late', dispatchDeps(s, providers));
    const noAddress = await dispatchDecision('dec_noaddr', dispatchDeps(s, providers));
    // Assess
    expect(quiet).toEqual({ outcome: 'stopped', reason: 'quiet_hours' });
    expect(reset.outcome).toBe('sent');
    expect(late).toEqual({ outcome: 'stopped', reason: 'outside_window' });
    expect(noAddress).toEqual({ outcome: 'stopped', reason: 'no_endpoint' });
    expect(providers.calls.map((c) => c.decisionId)).toEqual(['dec_reset']);
  });

  it('hands back a message for an unknown decision and a malformed body, and no-ops a settled one', async () => {
    const s = stack();
    await putReachableUser(s, 'user-7');
    await putEnqueuedDecision(s, { decisionId: 'dec_ok', userId: 'user-7', channel: 'push' });
    const providers = localProviders(s);
    const deps = dispatchDeps(s, providers);
    await dispatchDecision('dec_ok', deps);
    // Act
    const outcome = await dispatchBatch(
      [
        { messageId: 'a', body: '{"decisionId":"dec_missing"}' },
        { messageId: 'b', body: 'not json' },
        { messageId: 'c', body: '{"decisionId":"dec_ok"}' },
      ],
      deps,
    );
    // Assess
    const byId = Object.fromEntries(outcome.records.map((r) => [r.messageId, r]));
    expect(byId.a).toMatchObject({ retry: true, result: { outcome: 'unknown_decision' } });
    expect(byId.b).toMatchObject({ retry: true, result: { outcome: 'invalid_message' } });
    expect(byId.c).toMatchObject({ retry: false, result: { outcome: 'duplicate', status: 'sent' } });
    expect(providers.calls).toHaveLength(1);
  });
});
