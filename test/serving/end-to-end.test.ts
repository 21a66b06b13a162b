/**
 * The serving loop end to end on the local stack: a request goes in through SQS, decide schedules it, the
 * sweeper hands it to dispatch at its instant, SES or the SNS sink accepts it once, the user's open and
 * click come back as events carrying the decision id, the window closes with the reward the config's
 * weights give, the learner writes a new model version, and decide's next refresh decides with it.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { NotificationRequest } from '#events/index.ts';
import { settledReward } from '#lambdas/rewards/index.ts';
import { decisionIdFor } from '#lambdas/shared/decision-item.ts';
import { type LocalLoop, SimulatedClock, startLocalLoop } from '#local/loop.ts';
import { readSentEmails } from '#local/ses-inbox.ts';
import { makeNotificationClicked, makeNotificationOpened, makeProfileUpsert } from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

const stack = useLocalStack({ resetBeforeEach: true });
const HOUR = 3_600_000;
const START = Date.parse('2026-11-02T07:00:00Z'); // Monday, 08:00 in Berlin

let loop: LocalLoop | undefined;
afterEach(async () => {
  await loop?.stop();
  loop = undefined;
});

function request(id: string, atMs: number): NotificationRequest {
  return {
    schemaVersion: 1,
    id,
    type: 'notification_requested',
    userId: 'u-1',
    occurredAt: new Date(atMs).toISOString(),
    campaignId: 'winback',
    kind: 'promotional',
    content: { email: { subject: 'Basket', text: 'Still there.' }, push: { title: 'Basket', body: 'Still there' } },
    allowedChannels: ['email', 'push'],
    window: { notBefore: new Date(atMs).toISOString(), notAfter: new Date(atMs + 12 * HOUR).toISOString() },
  };
}

describe('end to end', () => {
  it('takes a request to one send, its engagement to one reward, and the reward into the next model', async () => {
    const s = stack();
    const config = defaultConfig();
    config.holdout.share = 0;
    config.model.refreshIntervalSeconds = 60;
    const clock = new SimulatedClock(START);
    loop = await startLocalLoop({ stack: s, config, clock });
    await loop.sendEvents([
      makeProfileUpsert({
        id: 'p-1',
        userId: 'u-1',
        occurredAt: new Date(START - 24 * HOUR).toISOString(),
        timeZone: 'Europe/Berlin',
        email: 'ada@example.com',
        pushEndpointArn: 'arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/11111111-2222-3333-4444-555555555555',
        consents: { email: true, push: true },
      }),
    ]);
    await loop.settle();
    await loop.sendRequests([request('r-1', START)]);
    await loop.settle();

    const decisionId = decisionIdFor('r-1');
    const read = async () =>
      (
        await s.clients.doc.send(
          new GetCommand({ TableName: s.tableNames.decisions, Key: { decisionId }, ConsistentRead: true }),
        )
      ).Item as Record<string, unknown>;
    const decided = await read();
    expect(decided.status).toBe('scheduled');
    const sendAt = decided.sendAt as number;
    const firstPolicyVersion = decided.policyVersion;

    // nothing leaves before its instant
    await loop.sweep();
    await loop.settle();
    if (sendAt > START) expect(loop.deliveries).toEqual([]);
    clock.set(Math.max(START, sendAt));
    await loop.sweep();
    await loop.sweep(); // a second sweep at the same instant finds nothing left to claim
    await loop.settle();
    expect(loop.deliveries.map((d) => d.decisionId)).toEqual([decisionId]);
    expect(loop.deliveries[0].atMs).toBe(Math.max(sendAt, START));
    const sent = await read();
    expect(sent.status).toBe('sent');
    if (sent.channel === 'email') expect(await readSentEmails(s)).toHaveLength(1);

    // the user opens and clicks; the open is delivered twice by its producer
    const channel = sent.channel as 'email' | 'push';
    const open = makeNotificationOpened({
      id: 'e-open',
      userId: 'u-1',
      channel,
      decisionId,
      occurredAt: new Date(sendAt + 10 * 60_000).toISOString(),
    });
    const click = makeNotificationClicked({
      id: 'e-click',
      userId: 'u-1',
      channel,
      decisionId,
      occurredAt: new Date(sendAt + 12 * 60_000).toISOString(),
    });
    clock.advance(15 * 60_000);
    await loop.sendEvents([open, open, click]);
    await loop.settle();
    expect(loop.stats.rewardsCounted).toBe(2);

    // the window (24 h) and the late-event grace end; the sweeper closes it and the learner learns
    clock.set(sendAt + (config.reward.attributionWindowHours + 1) * HOUR);
    await loop.sweep();
    await loop.settle();
    const closed = await read();
    expect(settledReward(closed, config.reward, clock.now())).toEqual({
      closed: true,
      reward: Math.max(config.reward.weights.notification_opened, config.reward.weights.notification_clicked),
    });
    expect(loop.stats.rewardsApplied).toBe(1);
    const { Items = [] } = await s.clients.doc.send(
      new QueryCommand({
        TableName: s.tableNames.model,
        KeyConditionExpression: 'modelId = :id',
        ExpressionAttributeValues: { ':id': 'send-time-policy' },
      }),
    );
    expect(Items.map((i) => [i.version, i.updates])).toEqual([[1, 1]]);

    // decide refreshes its cached model and decides with version 1
    await loop.sendRequests([request('r-2', clock.now())]);
    await loop.settle();
    const next = (
      await s.clients.doc.send(
        new GetCommand({ TableName: s.tableNames.decisions, Key: { decisionId: decisionIdFor('r-2') } }),
      )
    ).Item as Record<string, unknown>;
    expect(next.status).toBe('scheduled');
    expect(next.policyVersion).not.toBe(firstPolicyVersion);
    expect(loop.stats.modelVersion).toBe(1);
  });
});
