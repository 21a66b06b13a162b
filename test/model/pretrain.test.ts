import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput } from '#config/schema.ts';
import type { IngestEvent } from '#events/index.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { FEATURE_INDEX } from '#model/features.ts';
import { SendTimePolicy } from '#model/policy.ts';
import { PRETRAIN_LEARN_CHUNK, type PretrainRow, pretrainPolicy, pretrainRows } from '#model/pretrain.ts';
import { Rng } from '#model/random.ts';
import { computeReward } from '#model/reward.ts';
import {
  makeAppOpened,
  makeConverted,
  makeNotificationClicked,
  makeNotificationDelivered,
  makeNotificationDismissed,
  makeNotificationOpened,
  makeProfileUpsert,
  makeUnsubscribed,
} from '#test/helpers/event-factories.ts';

const HOUR = 3_600_000;
// Tuesday 2026-06-02 09:00 UTC
const T0 = Date.parse('2026-06-02T09:00:00Z');
const at = (ms: number) => new Date(ms).toISOString();

function config(patch: (c: AnalystConfigInput) => void = () => {}): AnalystConfig {
  const input = structuredClone(defaultConfig()) as AnalystConfigInput;
  patch(input);
  return parseConfig(input);
}

/** The rows of one user's sends by sentAt, for assertions that name a send by its instant. */
function bySentAt(rows: readonly PretrainRow[]): Map<number, PretrainRow> {
  return new Map(rows.map((r) => [r.sentAtMs, r]));
}

const bits = (row: PretrainRow) => Buffer.from(row.features.buffer, row.features.byteOffset, row.features.byteLength);

describe('pretrainRows attribution', () => {
  it('gives an event with a decisionId to the delivery with that decisionId, even after a later send on the channel', () => {
    // Prepare: two emails an hour apart; the first one's open comes after the second was delivered
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'email', decisionId: 'd1', occurredAt: at(T0) }),
      makeNotificationDelivered({ userId: 'u', channel: 'email', decisionId: 'd2', occurredAt: at(T0 + HOUR) }),
      makeNotificationOpened({ userId: 'u', channel: 'email', decisionId: 'd1', occurredAt: at(T0 + 2 * HOUR) }),
    ];

    // Act
    const { rows, events: stats } = pretrainRows(events, config(), { endMs: T0 + 48 * HOUR });

    // Assess
    expect(rows.map((r) => [r.decisionId, r.rewardEvents, r.reward])).toEqual([
      ['d1', ['notification_opened'], 0.3],
      ['d2', [], 0],
    ]);
    expect(stats.attributed).toEqual({ byDecisionId: 1, byNearestDelivery: 0 });
  });

  it('without a decisionId, gives an event to the nearest preceding delivery on its channel (converted: on any)', () => {
    // Prepare
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0) }),
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0 + 2 * HOUR) }),
      makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0 + 3 * HOUR) }),
      // the open is on push: the email delivered in between does not take it, nor does the older push
      makeNotificationOpened({ userId: 'u', channel: 'push', occurredAt: at(T0 + 4 * HOUR) }),
      // a conversion has no channel: the last delivery of any channel takes it
      makeConverted({ userId: 'u', occurredAt: at(T0 + 5 * HOUR) }),
      // no email or push before: an SMS click with nothing delivered on SMS counts nowhere
      makeNotificationClicked({ userId: 'u', channel: 'sms', occurredAt: at(T0 + 5 * HOUR) }),
    ];

    // Act
    const { rows, events: stats } = pretrainRows(events, config(), { endMs: T0 + 48 * HOUR });

    // Assess
    const sends = bySentAt(rows);
    expect(sends.get(T0)?.rewardEvents).toEqual([]);
    expect(sends.get(T0 + 2 * HOUR)?.rewardEvents).toEqual(['notification_opened']);
    expect(sends.get(T0 + 3 * HOUR)?.rewardEvents).toEqual(['converted']);
    expect(stats.attributed).toEqual({ byDecisionId: 0, byNearestDelivery: 2 });
    expect(stats.unattributed).toEqual({ noDelivery: 1, outsideWindow: 0 });
  });

  it('falls back to the nearest delivery when the decisionId names no delivery in the history', () => {
    // Prepare
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0) }),
      makeNotificationClicked({ userId: 'u', channel: 'email', decisionId: 'unknown', occurredAt: at(T0 + HOUR) }),
    ];

    // Act
    const { rows, events: stats } = pretrainRows(events, config(), { endMs: T0 + 48 * HOUR });

    // Assess
    expect(rows[0].rewardEvents).toEqual(['notification_clicked']);
    expect(stats.attributed).toEqual({ byDecisionId: 0, byNearestDelivery: 1 });
  });

  it('counts an event at the end of the attribution window and not one a millisecond later', () => {
    // Prepare: 24 h window; user a opens at the window's end, user b just after it
    const window = 24 * HOUR;
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'a', channel: 'email', decisionId: 'da', occurredAt: at(T0) }),
      makeNotificationOpened({ userId: 'a', channel: 'email', decisionId: 'da', occurredAt: at(T0 + window) }),
      makeNotificationDelivered({ userId: 'b', channel: 'email', occurredAt: at(T0) }),
      makeNotificationOpened({ userId: 'b', channel: 'email', occurredAt: at(T0 + window + 1) }),
    ];

    // Act
    const { rows, events: stats } = pretrainRows(events, config(), { endMs: T0 + 72 * HOUR });

    // Assess
    expect(rows.map((r) => [r.userId, r.reward])).toEqual([
      ['a', 0.3],
      ['b', 0],
    ]);
    expect(stats.unattributed.outsideWindow).toBe(1);
  });

  it('leaves out sends whose window has not closed by endMs, and ignores events after it', () => {
    // Prepare
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0) }),
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0 + 6 * HOUR) }),
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0 + 7 * HOUR) }),
      makeAppOpened({ userId: 'u', occurredAt: at(T0 + 40 * HOUR) }),
    ];

    // Act: the window of the send at 6 h closes exactly at endMs, the one at 7 h an hour after it
    const { rows, skipped, events: stats, endMs } = pretrainRows(events, config(), { endMs: T0 + 30 * HOUR });

    // Assess
    expect(rows.map((r) => r.sentAtMs)).toEqual([T0, T0 + 6 * HOUR]);
    expect(skipped).toEqual({ windowOpen: 1, repeatedDecision: 0 });
    expect(stats.afterEnd).toBe(1);
    expect(endMs).toBe(T0 + 30 * HOUR);
  });

  it('ends the history at the newest event when no endMs is given', () => {
    // Prepare: the open an hour after the send is the newest event, so the send's window is still open
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0) }),
      makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0 + 30 * HOUR) }),
      makeNotificationOpened({ userId: 'u', channel: 'email', occurredAt: at(T0 + 31 * HOUR) }),
    ];

    // Act
    const { rows, skipped, endMs } = pretrainRows(events, config());

    // Assess
    expect(endMs).toBe(T0 + 31 * HOUR);
    expect(rows.map((r) => r.sentAtMs)).toEqual([T0]);
    expect(skipped.windowOpen).toBe(1);
  });

  it('counts a repeated event id once, in the rewards and in the features', () => {
    // Prepare: a producer's retry of an app open and of a delivery, and a second delivery of the same decision
    const session = makeAppOpened({ userId: 'u', occurredAt: at(T0 - HOUR) });
    const delivery = makeNotificationDelivered({ userId: 'u', channel: 'sms', decisionId: 'd', occurredAt: at(T0) });
    const once: IngestEvent[] = [session, delivery];
    const retried: IngestEvent[] = [
      session,
      { ...session },
      delivery,
      { ...delivery },
      makeNotificationDelivered({ userId: 'u', channel: 'sms', decisionId: 'd', occurredAt: at(T0 + 1) }),
    ];
    const endMs = T0 + 48 * HOUR;

    // Act
    const single = pretrainRows(once, config(), { endMs });
    const repeated = pretrainRows(retried, config(), { endMs });

    // Assess
    expect(repeated.rows).toHaveLength(1);
    expect(repeated.events.duplicates).toBe(2);
    expect(repeated.skipped.repeatedDecision).toBe(1);
    expect(bits(repeated.rows[0])).toEqual(bits(single.rows[0]));
  });

  it('counts a repeated engagement id once towards the reward under combine "sum"', () => {
    // Prepare
    const click = makeNotificationClicked({ userId: 'u', channel: 'push', occurredAt: at(T0 + HOUR) });
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'push', occurredAt: at(T0) }),
      click,
      { ...click },
    ];
    const sum = config((c) => {
      c.reward.combine = 'sum';
    });

    // Act
    const { rows, events: stats } = pretrainRows(events, sum, { endMs: T0 + 48 * HOUR });

    // Assess
    expect(rows[0].reward).toBe(1);
    expect(stats.attributed.byNearestDelivery).toBe(1);
    expect(stats.duplicates).toBe(1);
  });
});

describe('pretrainRows rows', () => {
  /** A few weeks of sends, sessions and outcomes of three users, in time order. */
  function history(): IngestEvent[] {
    const rng = new Rng(7);
    const events: IngestEvent[] = [];
    for (const userId of ['user-10', 'user-2', 'user-1']) {
      events.push(makeProfileUpsert({ userId, occurredAt: at(T0 - 30 * 24 * HOUR), timeZone: 'Europe/Berlin' }));
      for (let day = 0; day < 20; day++) {
        const dayMs = T0 - 25 * 24 * HOUR + day * 24 * HOUR;
        events.push(makeAppOpened({ userId, occurredAt: at(dayMs + Math.floor(rng.next() * 12) * HOUR) }));
        const channel = (['email', 'push', 'sms'] as const)[Math.floor(rng.next() * 3)];
        const sentAt = dayMs + Math.floor(rng.next() * 10) * HOUR;
        events.push(makeNotificationDelivered({ userId, channel, occurredAt: at(sentAt) }));
        if (rng.next() < 0.5) {
          events.push(makeNotificationOpened({ userId, channel, occurredAt: at(sentAt + 20 * 60_000) }));
          if (rng.next() < 0.4) {
            events.push(makeNotificationClicked({ userId, channel, occurredAt: at(sentAt + 21 * 60_000) }));
          }
        }
        // an open at the very instant of the send (a fast push tap)
        if (rng.next() < 0.2) events.push(makeNotificationOpened({ userId, channel, occurredAt: at(sentAt) }));
      }
    }
    return events;
  }

  it('gives the same rows, bit for bit, for the same events in any order, grouped by user in natural order', () => {
    // Prepare
    const events = history();
    const rng = new Rng(11);
    const shuffled = () => {
      const copy = [...events];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy;
    };

    // Act
    const reference = pretrainRows(events, config());
    const others = [shuffled(), shuffled(), [...events].reverse()].map((e) => pretrainRows(e, config()));

    // Assess
    expect(reference.rows.length).toBeGreaterThan(50);
    expect([...new Set(reference.rows.map((r) => r.userId))]).toEqual(['user-1', 'user-2', 'user-10']);
    for (const other of others) {
      expect(other.rows.length).toBe(reference.rows.length);
      other.rows.forEach((row, i) => {
        const ref = reference.rows[i];
        expect([row.userId, row.sentAtMs, row.channel, row.reward]).toEqual([
          ref.userId,
          ref.sentAtMs,
          ref.channel,
          ref.reward,
        ]);
        expect(bits(row)).toEqual(bits(ref));
      });
      expect(other.events).toEqual(reference.events);
    }
  });

  it('scores each send by computeReward of the types attributed to it, weights of 0 left out', () => {
    // Prepare: every outcome type of a send, a dismissal (weight 0) among them
    const outcomes = (userId: string) => [
      makeNotificationDelivered({ userId, channel: 'email', occurredAt: at(T0) }),
      makeNotificationOpened({ userId, channel: 'email', occurredAt: at(T0 + HOUR) }),
      makeNotificationClicked({ userId, channel: 'email', occurredAt: at(T0 + 2 * HOUR) }),
      makeNotificationDismissed({ userId, channel: 'email', occurredAt: at(T0 + 2 * HOUR) }),
      makeUnsubscribed({ userId, channel: 'email', occurredAt: at(T0 + 3 * HOUR) }),
    ];
    const events = [...outcomes('u'), makeNotificationDelivered({ userId: 'v', channel: 'push', occurredAt: at(T0) })];

    for (const combine of ['max', 'sum'] as const) {
      const settings = config((c) => {
        c.reward.combine = combine;
      });

      // Act
      const { rows } = pretrainRows(events, settings, { endMs: T0 + 48 * HOUR });

      // Assess
      const [u, v] = rows;
      expect(u.rewardEvents).toEqual(['notification_opened', 'notification_clicked', 'unsubscribed']);
      expect(u.reward).toBe(computeReward(u.rewardEvents, settings.reward));
      expect(u.reward).toBeCloseTo(combine === 'max' ? 1 - 3 : 0.3 + 1 - 3, 12);
      expect(v.rewardEvents).toEqual([]);
      expect(v.reward).toBe(0);
    }
  });

  it('builds a send’s features from what happened before it: an engagement at the delivery instant is after it', () => {
    // Prepare
    const before = [
      makeProfileUpsert({ userId: 'u', occurredAt: at(T0 - 10 * 24 * HOUR), timeZone: 'America/New_York' }),
      makeAppOpened({ userId: 'u', occurredAt: at(T0 - 3 * 24 * HOUR) }),
      makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0 - 2 * 24 * HOUR) }),
    ];
    const send = makeNotificationDelivered({ userId: 'u', channel: 'email', occurredAt: at(T0) });
    const endMs = T0 + 48 * HOUR;
    const sendRow = (events: IngestEvent[]) =>
      bySentAt(pretrainRows(events, config(), { endMs }).rows).get(T0) as PretrainRow;

    // Act
    const alone = sendRow([...before, send]);
    // its own open and click at the same instant (listed first, so input order alone would apply them first)
    const withOutcomes = sendRow([
      makeNotificationClicked({ userId: 'u', channel: 'email', occurredAt: at(T0) }),
      makeNotificationOpened({ userId: 'u', channel: 'email', occurredAt: at(T0) }),
      ...before,
      send,
    ]);
    // the same open a millisecond earlier is history, and must show
    const openedJustBefore = sendRow([
      ...before,
      makeNotificationOpened({ userId: 'u', channel: 'email', occurredAt: at(T0 - 1) }),
      send,
    ]);

    // Assess
    expect(bits(withOutcomes)).toEqual(bits(alone));
    expect(withOutcomes.rewardEvents).toEqual(['notification_opened', 'notification_clicked']);
    expect(openedJustBefore.features[FEATURE_INDEX.channel_rate]).toBeGreaterThan(
      alone.features[FEATURE_INDEX.channel_rate],
    );
  });

  it('takes each send’s kind from options.kind (kind x channel columns), none by default', () => {
    // Prepare
    const events: IngestEvent[] = [
      makeNotificationDelivered({ userId: 'u', channel: 'push', decisionId: 'promo', occurredAt: at(T0) }),
      makeNotificationDelivered({ userId: 'u', channel: 'sms', decisionId: 'other', occurredAt: at(T0 + HOUR) }),
    ];
    const endMs = T0 + 48 * HOUR;

    // Act
    const plain = pretrainRows(events, config(), { endMs }).rows;
    const kinded = pretrainRows(events, config(), {
      endMs,
      kind: (d) => (d.decisionId === 'promo' ? 'promotional' : undefined),
    }).rows;

    // Assess
    expect(plain[0].features[FEATURE_INDEX.promotional_x_push]).toBe(0);
    expect(kinded[0].features[FEATURE_INDEX.promotional_x_push]).toBe(1);
    expect(bits(kinded[1])).toEqual(bits(plain[1]));
  });

  it('refuses an event whose occurredAt is not an instant, naming it', () => {
    // Prepare
    const bad = makeAppOpened({ id: 'e-bad', userId: 'u', occurredAt: 'yesterday' });

    // Act / Assess
    expect(() => pretrainRows([bad], config())).toThrow(/e-bad.*u/);
  });
});

describe('pretrainPolicy', () => {
  beforeAll(async () => {
    await initTensorBackend();
  });

  function events(sends: number): IngestEvent[] {
    const out: IngestEvent[] = [];
    for (let i = 0; i < sends; i++) {
      const userId = `user-${i % 7}`;
      const sentAt = T0 + i * HOUR;
      const channel = (['email', 'push', 'sms'] as const)[i % 3];
      out.push(makeNotificationDelivered({ userId, channel, occurredAt: at(sentAt) }));
      if (i % 4 === 0) out.push(makeNotificationClicked({ userId, channel, occurredAt: at(sentAt + 600_000) }));
    }
    return out;
  }

  it.each([
    // learning is plain JavaScript for every learner: a policy holds tensors only once it has decided
    ['linear-ts', config(), PRETRAIN_LEARN_CHUNK + 100],
    // neural-linear retrains its network while pretraining (fewer sends: its training is slower)
    [
      'neural-linear',
      config((c) => {
        c.bandit = { algorithm: 'neural-linear' };
      }),
      300,
    ],
  ] as const)('leaves no tensor behind: learning allocates none (%s)', async (name, settings, sends) => {
    // Prepare
    const history = events(sends);
    const baseline = tf.memory().numTensors;
    const fresh = SendTimePolicy.create(settings);
    fresh.learn([]);
    const owned = tf.memory().numTensors - baseline;
    fresh.dispose();

    // Act
    const result = await pretrainPolicy(history, settings);
    const held = tf.memory().numTensors - baseline;
    result.policy.dispose();

    // Assess
    expect(result.rows).toBeGreaterThan(sends * 0.8);
    if (name === 'linear-ts') expect(result.rows).toBeGreaterThan(PRETRAIN_LEARN_CHUNK);
    expect(owned).toBe(0);
    expect(held).toBe(0);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('trains: its state and version differ from a fresh policy’s, and the same history gives the same state', async () => {
    // Prepare
    const history = events(200);
    const fresh = SendTimePolicy.create(config());

    // Act
    const a = await pretrainPolicy(history, config());
    const b = await pretrainPolicy([...history].reverse(), config());

    // Assess
    expect(a.rows).toBeGreaterThan(150);
    expect(a.rows + a.skipped.windowOpen).toBe(200);
    expect(a.policy.version).not.toBe(fresh.version);
    expect(JSON.stringify(a.policy.serialize())).not.toBe(JSON.stringify(fresh.serialize()));
    expect(JSON.stringify(b.policy.serialize())).toBe(JSON.stringify(a.policy.serialize()));
    for (const p of [fresh, a.policy, b.policy]) p.dispose();
  });
});
