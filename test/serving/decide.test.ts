/**
 * Decide and the sweeper on the local stack (DynamoDB Local, fauxqs): a request becomes one decision that
 * respects every guardrail, a duplicate request changes nothing, caps hold across concurrent decides,
 * holdout users get the holdout policy, and the sweeper hands each due send to dispatch exactly once.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import type { NotificationRequest } from '#events/index.ts';
import { dueShardFor } from '#infra/resources.ts';
import { type DecideDeps, decideBatch, retryInstant } from '#lambdas/decide/decide.ts';
import { HeadModelCache } from '#lambdas/decide/head-model-cache.ts';
import { decodeUserState } from '#lambdas/ingest/user-item.ts';
import { type DecisionItem, decisionIdFor, decisionInput } from '#lambdas/shared/decision-item.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import type { UserItemWithSendLog } from '#lambdas/shared/user-send-log.ts';
import { type SweeperDeps, sweep } from '#lambdas/sweeper/sweeper.ts';
import type { LocalStack } from '#local/stack.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { FEATURE_DIMENSION } from '#model/features.ts';
import { allowedArms, checkSendAllowed } from '#model/guardrails.ts';
import { type DecideInput, isInHoldout } from '#model/policy.ts';
import { makeAppOpened } from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { HOUR, ingest, NOW, putReachableUser, quietLogger } from './dispatch-fixtures.ts';

const stack = useLocalStack({ resetBeforeEach: true });
await initTensorBackend();

function config(patch: (c: AnalystConfig) => void = () => {}): AnalystConfig {
  const c = defaultConfig();
  c.holdout.share = 0;
  patch(c);
  return c;
}

function deps(s: LocalStack, cfg: AnalystConfig, now = NOW): DecideDeps {
  const store = modelTableStore(s.clients.doc, s.tableNames.model);
  return {
    doc: s.clients.doc,
    usersTable: s.tableNames.users,
    decisionsTable: s.tableNames.decisions,
    models: new HeadModelCache({ readHead: () => store.readHead(), now: () => now, logger: quietLogger }),
    config: cfg,
    now: () => now,
    logger: quietLogger,
  };
}

function sweeperDeps(s: LocalStack, cfg: AnalystConfig, now: number): SweeperDeps {
  return {
    doc: s.clients.doc,
    sqs: s.clients.sqs,
    decisionsTable: s.tableNames.decisions,
    dispatchQueueUrl: s.queueUrls.dispatch,
    requestsQueueUrl: s.queueUrls.requests,
    rewardsQueueUrl: s.queueUrls.rewards,
    config: cfg,
    now: () => now,
    logger: quietLogger,
  };
}

function request(id: string, userId: string, patch: Partial<NotificationRequest> = {}): NotificationRequest {
  return {
    schemaVersion: 1,
    id,
    type: 'notification_requested',
    userId,
    occurredAt: new Date(NOW).toISOString(),
    campaignId: 'winback-2026-11',
    kind: 'promotional',
    content: {
      email: { subject: 'Your basket', text: 'Still there.' },
      push: { title: 'Basket', body: 'Still there' },
      sms: { text: 'Basket still there' },
    },
    allowedChannels: ['email', 'push', 'sms'],
    window: { notBefore: new Date(NOW).toISOString(), notAfter: new Date(NOW + 48 * HOUR).toISOString() },
    ...patch,
  } as NotificationRequest;
}

const records = (...requests: NotificationRequest[]) =>
  requests.map((r, i) => ({ messageId: `m-${i}-${r.id}`, body: JSON.stringify(r) }));

async function readItem(s: LocalStack, decisionId: string): Promise<DecisionItem | undefined> {
  const { Item } = await s.clients.doc.send(
    new GetCommand({ TableName: s.tableNames.decisions, Key: { decisionId }, ConsistentRead: true }),
  );
  return Item as DecisionItem | undefined;
}

async function readUserItem(s: LocalStack, userId: string): Promise<UserItemWithSendLog | undefined> {
  const { Item } = await s.clients.doc.send(
    new GetCommand({ TableName: s.tableNames.users, Key: { userId }, ConsistentRead: true }),
  );
  return Item as UserItemWithSendLog | undefined;
}

async function receiveAll(s: LocalStack, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < 20; i++) {
    const { Messages = [] } = await s.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) break;
    bodies.push(...Messages.map((m) => m.Body ?? ''));
  }
  return bodies;
}

describe('decide', () => {
  it('writes one scheduled decision inside every guardrail, with what a replay needs', async () => {
    const s = stack();
    const cfg = config();
    await putReachableUser(s, 'u-1');
    const outcome = await decideBatch(records(request('r-1', 'u-1')), deps(s, cfg));
    expect(outcome.failures).toEqual([]);
    const item = await readItem(s, decisionIdFor('r-1'));
    expect(item?.status).toBe('scheduled');
    expect(['email', 'push', 'sms']).toContain(item?.channel);
    expect(item?.sendAt).toBeGreaterThanOrEqual(NOW);
    expect(item?.sendAt).toBeLessThanOrEqual(NOW + 48 * HOUR);
    expect(item?.propensity).toBeGreaterThan(0);
    expect(item?.propensity).toBeLessThanOrEqual(1);
    expect(item?.configVersion).toBe(cfg.version);
    expect(item?.policyName).toBe('bandit');
    expect(item?.dueShard).toBe(dueShardFor(decisionIdFor('r-1')));
    expect(item?.dueAt).toBe(item?.sendAt);
    expect(Buffer.from(item?.features ?? '', 'base64').byteLength).toBe(FEATURE_DIMENSION * 4);
    expect(item?.content).toEqual(request('r-1', 'u-1').content[item?.channel as 'email']);
    // the guardrails agree with the stored decision, re-checked from the stored input alone
    const input = decisionInput(item as DecisionItem);
    const check = checkSendAllowed(
      input.user,
      item?.channel as 'email',
      item?.sendAt as number,
      input.request,
      input.recentSends ?? {},
      cfg,
      { reachable: input.reachable },
    );
    expect(check).toEqual({ allowed: true });
    const user = await readUserItem(s, 'u-1');
    expect(user?.sendLog).toEqual([{ decisionId: decisionIdFor('r-1'), channel: item?.channel, at: item?.sendAt }]);
  });

  it('decides a request delivered twice once, and keeps one send-log entry that matches it', async () => {
    const s = stack();
    const cfg = config();
    await putReachableUser(s, 'u-1');
    await decideBatch(records(request('r-1', 'u-1')), deps(s, cfg));
    const first = await readItem(s, decisionIdFor('r-1'));
    // a later redelivery: the user's state changed meanwhile, the decision stands
    await ingest(s, [makeAppOpened({ userId: 'u-1', occurredAt: new Date(NOW + 10 * 60_000).toISOString() })], NOW);
    const again = await decideBatch(records(request('r-1', 'u-1'), request('r-1', 'u-1')), deps(s, cfg, NOW + HOUR));
    expect(again.failures).toEqual([]);
    expect(again.decided.every((d) => d.duplicate)).toBe(true);
    const second = await readItem(s, decisionIdFor('r-1'));
    expect(second).toEqual(first);
    const user = await readUserItem(s, 'u-1');
    expect(user?.sendLog).toEqual([{ decisionId: decisionIdFor('r-1'), channel: first?.channel, at: first?.sendAt }]);
  });

  it('refuses an invalid record with its reason and decides the valid ones of the batch', async () => {
    const s = stack();
    await putReachableUser(s, 'u-1');
    const bad = { messageId: 'bad', body: JSON.stringify({ ...request('r-bad', 'u-1'), window: { notBefore: 'x' } }) };
    const outcome = await decideBatch([bad, ...records(request('r-2', 'u-1'))], deps(s, config()));
    expect(outcome.failures).toEqual([{ messageId: 'bad', reason: expect.any(String), retryable: false }]);
    expect((await readItem(s, decisionIdFor('r-2')))?.status).toBe('scheduled');
    expect(await readItem(s, decisionIdFor('r-bad'))).toBeUndefined();
  });

  it('holds a global cap of one send a day across two decides running at once', async () => {
    const s = stack();
    const cfg = config((c) => {
      c.guardrails.frequencyCaps.global = { maxSends: 1, perHours: 24 };
      c.guardrails.whenNoArm = 'drop';
    });
    await putReachableUser(s, 'u-1');
    // a one-day window: a second send would have to be within 24 h of the first
    const window = { notBefore: new Date(NOW).toISOString(), notAfter: new Date(NOW + 20 * HOUR).toISOString() };
    const [a, b] = await Promise.all([
      decideBatch(records(request('r-a', 'u-1', { window })), deps(s, cfg)),
      decideBatch(records(request('r-b', 'u-1', { window })), deps(s, cfg)),
    ]);
    expect([...a.failures, ...b.failures]).toEqual([]);
    const items = [await readItem(s, decisionIdFor('r-a')), await readItem(s, decisionIdFor('r-b'))];
    expect(items.map((i) => i?.status).sort()).toEqual(['dropped', 'scheduled']);
    const dropped = items.find((i) => i?.status === 'dropped');
    expect(dropped?.noArmReasons?.frequency_cap_global).toBeGreaterThan(0);
    expect((await readUserItem(s, 'u-1'))?.sendLog).toHaveLength(1);
  });

  it('defers a request whose arms are all capped to the hour the cap allows again, inside the window', async () => {
    const s = stack();
    const cfg = config((c) => {
      c.guardrails.frequencyCaps.global = { maxSends: 1, perHours: 24 };
      c.guardrails.whenNoArm = 'defer';
    });
    await putReachableUser(s, 'u-1');
    const window = { notBefore: new Date(NOW).toISOString(), notAfter: new Date(NOW + 20 * HOUR).toISOString() };
    await decideBatch(records(request('r-a', 'u-1', { window })), deps(s, cfg));
    const first = await readItem(s, decisionIdFor('r-a'));
    const late = { notBefore: new Date(NOW).toISOString(), notAfter: new Date(NOW + 72 * HOUR).toISOString() };
    await decideBatch(records(request('r-b', 'u-1', { window: late })), deps(s, cfg));
    const deferred = await readItem(s, decisionIdFor('r-b'));
    expect(deferred?.status).toBe('deferred');
    expect(deferred?.retryAt).toBeGreaterThan(NOW);
    expect(deferred?.retryAt).toBeLessThan(NOW + 72 * HOUR);
    // at retryAt some send 24 h after the first is possible, one hour earlier nothing was
    expect((deferred?.retryAt as number) + 48 * HOUR).toBeGreaterThan((first?.sendAt as number) + 24 * HOUR);
    expect(deferred?.dueAt).toBe(deferred?.retryAt);
    expect(typeof deferred?.request).toBe('string');
  });

  it('drops, with its reasons, a request for a user it has no endpoint for', async () => {
    const s = stack();
    await decideBatch(records(request('r-1', 'nobody')), deps(s, config()));
    const item = await readItem(s, decisionIdFor('r-1'));
    expect(item?.status).toBe('dropped');
    expect(item?.noArmReasons?.no_consent ?? item?.noArmReasons?.no_endpoint).toBeGreaterThan(0);
    expect(item?.dueShard).toBeUndefined();
  });

  it('routes holdout users to the holdout policy and flags their decisions', async () => {
    const s = stack();
    const cfg = config((c) => {
      c.holdout.share = 0.5;
    });
    const users = Array.from({ length: 12 }, (_, i) => `h-${i}`);
    for (const u of users) await putReachableUser(s, u);
    await decideBatch(records(...users.map((u, i) => request(`r-${i}`, u))), deps(s, cfg));
    let held = 0;
    for (const [i, u] of users.entries()) {
      const item = await readItem(s, decisionIdFor(`r-${i}`));
      expect(item?.holdout).toBe(isInHoldout(u, cfg.holdout));
      expect(item?.policyName).toBe(item?.holdout ? 'heuristic' : 'bandit');
      if (item?.holdout) held++;
    }
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(users.length);
  });
});

describe('when no arm is allowed', () => {
  const user = decodeUserState(undefined, 'u-x');
  const input = (notAfterMs: number): DecideInput => ({
    user: { ...user, timeZone: 'UTC', consent: { ...user.consent, push: { optedIn: true } } },
    request: { kind: 'promotional', allowedChannels: ['push'], window: { notBeforeMs: NOW, notAfterMs } },
    // 23:00 UTC: inside the default quiet hours (21:00-08:00)
    nowMs: Date.parse('2026-11-02T23:00:00Z'),
  });
  const at = Date.parse('2026-11-02T23:00:00Z');

  it('defer waits for the first whole hour at which deciding finds an allowed arm', () => {
    const cfg = config((c) => {
      c.guardrails.whenNoArm = 'defer';
    });
    // a window that starts beyond the 2-day horizon: nothing can be chosen now
    const far: DecideInput = {
      ...input(at + 5 * 24 * HOUR),
      request: { ...input(0).request, window: { notBeforeMs: at + 3 * 24 * HOUR, notAfterMs: at + 5 * 24 * HOUR } },
    };
    expect(allowedArms(far, cfg).allowedCount).toBe(0);
    const retry = retryInstant(far, cfg, at) as number;
    expect(retry % HOUR).toBe(0);
    expect(allowedArms({ ...far, nowMs: retry }, cfg).allowedCount).toBeGreaterThan(0);
    expect(allowedArms({ ...far, nowMs: retry - HOUR }, cfg).allowedCount).toBe(0);
    // a window inside quiet hours never allows anything: drop
    const quiet: DecideInput = {
      ...far,
      request: { ...far.request, window: { notBeforeMs: at, notAfterMs: at + 5 * HOUR } },
    };
    expect(retryInstant(quiet, cfg, at)).toBeUndefined();
  });

  it('redecide waits the configured delay inside the window, and drop drops', () => {
    const redecide = config((c) => {
      c.guardrails.whenNoArm = 'redecide';
    });
    expect(retryInstant(input(at + 24 * HOUR), redecide, at, 30 * 60_000)).toBe(at + 30 * 60_000);
    expect(retryInstant(input(at + 10 * 60_000), redecide, at, 30 * 60_000)).toBeUndefined();
    const drop = config((c) => {
      c.guardrails.whenNoArm = 'drop';
    });
    expect(retryInstant(input(at + 24 * HOUR), drop, at)).toBeUndefined();
  });
});

describe('sweeper', () => {
  async function putDecision(s: LocalStack, decisionId: string, status: string, dueAt: number, extra = {}) {
    await s.clients.doc.send(
      new PutCommand({
        TableName: s.tableNames.decisions,
        Item: { decisionId, userId: 'u-1', status, dueShard: dueShardFor(decisionId), dueAt, sendAt: dueAt, ...extra },
      }),
    );
  }

  it('hands each send due within the lookahead to dispatch once, even with two sweepers at once', async () => {
    const s = stack();
    const cfg = config();
    const soon = Array.from({ length: 40 }, (_, i) => `dec_soon-${i}`);
    for (const id of soon) await putDecision(s, id, 'scheduled', NOW + 2_000);
    await putDecision(s, 'dec_later', 'scheduled', NOW + 2 * HOUR);
    const [a, b] = await Promise.all([sweep(sweeperDeps(s, cfg, NOW)), sweep(sweeperDeps(s, cfg, NOW))]);
    expect(a.unsent + b.unsent).toBe(0);
    expect(a.enqueued + b.enqueued).toBe(soon.length);
    for (const id of soon) {
      const item = await readItem(s, id);
      expect(item?.status).toBe('enqueued');
      expect(item?.dueAt).toBeGreaterThan(NOW + 2_000); // leased
    }
    expect((await readItem(s, 'dec_later'))?.status).toBe('scheduled');
    // delayed so that each leaves at its instant, not up to a minute late
    expect(a.latenessMs.concat(b.latenessMs)).toHaveLength(soon.length);
    expect(Math.max(...a.latenessMs, ...b.latenessMs)).toBeLessThan(1000);
    expect(await receiveAll(s, s.queueUrls.dispatch)).toEqual([]); // not visible yet
    await new Promise((r) => setTimeout(r, 3_000));
    const bodies = await receiveAll(s, s.queueUrls.dispatch);
    expect(bodies.map((b) => JSON.parse(b).decisionId).sort()).toEqual([...soon].sort());
  });

  it('enqueues again a send whose lease ended without dispatch claiming it, and nothing still leased', async () => {
    const s = stack();
    await putDecision(s, 'dec_lost', 'enqueued', NOW - 1);
    await putDecision(s, 'dec_leased', 'enqueued', NOW + 60_000);
    const outcome = await sweep(sweeperDeps(s, config(), NOW));
    expect(outcome.enqueued).toBe(1);
    expect(outcome.reEnqueued).toBe(1);
    expect(await receiveAll(s, s.queueUrls.dispatch)).toEqual([JSON.stringify({ decisionId: 'dec_lost' })]);
  });

  it('sends a deferred request back to decide when it is due, and decide decides it again', async () => {
    const s = stack();
    const cfg = config();
    await putReachableUser(s, 'u-1');
    const req = request('r-def', 'u-1');
    await putDecision(s, decisionIdFor('r-def'), 'deferred', NOW - 1, { request: JSON.stringify(req) });
    const outcome = await sweep(sweeperDeps(s, cfg, NOW));
    expect(outcome.redecided).toBe(1);
    expect((await readItem(s, decisionIdFor('r-def')))?.status).toBe('redeciding');
    const bodies = await receiveAll(s, s.queueUrls.requests);
    expect(bodies).toEqual([JSON.stringify(req)]);
    const again = await decideBatch([{ messageId: 'm', body: bodies[0] }], deps(s, cfg));
    expect(again.decided[0]?.duplicate).toBe(false);
    expect((await readItem(s, decisionIdFor('r-def')))?.status).toBe('scheduled');
  });
});
