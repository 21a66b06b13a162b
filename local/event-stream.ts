/**
 * A realistic stream of engagement and profile events for the demo, the ingest benchmark and the
 * integration tests: every user starts with a profile upsert, then app opens cluster around the user's
 * own habitual hours, notifications are delivered / opened / clicked, a few users unsubscribe or bounce,
 * and a share of messages is delivered twice (the same producer id), as SQS and producers do.
 */

import { Rng } from '#model/random.ts';
import { CHANNELS } from '#model/user-state.ts';

const ZONES = [
  'America/New_York',
  'America/Los_Angeles',
  'Europe/London',
  'Europe/Berlin',
  'Asia/Kolkata',
  'Asia/Tokyo',
];

export interface EventStreamOptions {
  events: number;
  users: number;
  /** share of messages sent a second time with the same id */
  duplicateShare: number;
  seed?: number;
  /** stream start; events spread over `days` days */
  startMs?: number;
  days?: number;
}

export interface StreamMessage {
  /** the SQS body */
  body: string;
  /** producer id of the event (a duplicate has the same id as its original) */
  id: string;
  userId: string;
  duplicate: boolean;
}

/**
 * Builds the stream, in arrival order (duplicates arrive a little after their original).
 * @example const messages = makeEventStream({ events: 20_000, users: 2_000, duplicateShare: 0.1 });
 */
export function makeEventStream(opts: EventStreamOptions): StreamMessage[] {
  const rng = new Rng(opts.seed ?? 7);
  const startMs = opts.startMs ?? Date.parse('2026-11-02T00:00:00Z');
  const spanMs = (opts.days ?? 14) * 86_400_000;
  const originals = Math.round(opts.events / (1 + opts.duplicateShare));
  const habits = Array.from({ length: opts.users }, () => ({
    zone: ZONES[rng.int(ZONES.length)],
    hours: [7 + rng.int(3), 12 + rng.int(2), 19 + rng.int(4)],
  }));
  const out: StreamMessage[] = [];
  let seq = 0;
  const push = (userId: string, event: Record<string, unknown>) => {
    const id = `evt-${opts.seed ?? 7}-${seq++}`;
    out.push({ id, userId, duplicate: false, body: JSON.stringify({ schemaVersion: 1, id, userId, ...event }) });
  };
  for (let u = 0; u < opts.users && out.length < originals; u++) {
    push(`user-${u}`, {
      type: 'profile_upserted',
      occurredAt: new Date(startMs - 86_400_000).toISOString(),
      timeZone: habits[u].zone,
      consents: { email: true, push: rng.bernoulli(0.8), sms: rng.bernoulli(0.3) },
      email: `user${u}@example.com`,
      ...(rng.bernoulli(0.5) ? { phone: `+1555${String(1_000_000 + u).slice(-7)}` } : {}),
    });
  }
  // Events come in sessions: a user opens the app, opens or clicks a notification, ... within minutes.
  // That burstiness is what real streams look like, and what lets ingest write once per user per batch.
  while (out.length < originals) {
    const u = rng.int(opts.users);
    const userId = `user-${u}`;
    const day = rng.int(Math.max(1, Math.floor(spanMs / 86_400_000)));
    const hour = habits[u].hours[rng.int(3)];
    const sessionStart = startMs + day * 86_400_000 + hour * 3_600_000 + rng.int(3_600_000);
    const burst = 1 + rng.int(6);
    for (let b = 0; b < burst && out.length < originals; b++) {
      // Mobile and web SDKs attach the device zone to every event, as here; ingest falls back to the
      // profile's zone, then the config default, for events that carry none.
      const at = new Date(sessionStart + b * (30_000 + rng.int(120_000))).toISOString();
      const timeZone = habits[u].zone;
      const r = rng.next();
      const channel = CHANNELS[rng.int(CHANNELS.length)];
      if (r < 0.55) push(userId, { type: 'app_opened', occurredAt: at, timeZone, sessionSeconds: 10 + rng.int(600) });
      else if (r < 0.75) push(userId, { type: 'notification_delivered', occurredAt: at, timeZone, channel });
      else if (r < 0.88) push(userId, { type: 'notification_opened', occurredAt: at, timeZone, channel });
      else if (r < 0.95) push(userId, { type: 'notification_clicked', occurredAt: at, timeZone, channel });
      else if (r < 0.97) push(userId, { type: 'notification_dismissed', occurredAt: at, timeZone, channel });
      else if (r < 0.98)
        push(userId, { type: 'converted', occurredAt: at, timeZone, value: 10 + rng.int(90), currency: 'EUR' });
      else if (r < 0.99) push(userId, { type: 'unsubscribed', occurredAt: at, timeZone, channel });
      else
        push(userId, {
          type: 'bounced',
          occurredAt: at,
          timeZone,
          channel: 'email',
          bounceType: rng.bernoulli(0.5) ? 'permanent' : 'transient',
        });
    }
  }
  // Duplicates: the same message again, shortly after the original.
  const withDuplicates: StreamMessage[] = [];
  const pending: { at: number; message: StreamMessage }[] = [];
  out.forEach((m, i) => {
    withDuplicates.push(m);
    if (rng.bernoulli(opts.duplicateShare))
      pending.push({ at: i + 1 + rng.int(50), message: { ...m, duplicate: true } });
    for (let k = pending.length - 1; k >= 0; k--) {
      if (pending[k].at <= i) {
        withDuplicates.push(pending[k].message);
        pending.splice(k, 1);
      }
    }
  });
  for (const p of pending) withDuplicates.push(p.message);
  return withDuplicates;
}

/** Records that must be refused, one of each kind of bad input, for demos and tests. */
export function poisonBodies(): { name: string; body: string }[] {
  const base = { schemaVersion: 1, userId: 'user-poison', occurredAt: '2026-11-02T10:00:00Z' };
  return [
    { name: 'malformed JSON', body: '{"schemaVersion": 1, "id": "p-1", ' },
    { name: 'unknown type', body: JSON.stringify({ ...base, id: 'p-2', type: 'app_exploded' }) },
    { name: 'missing channel', body: JSON.stringify({ ...base, id: 'p-3', type: 'notification_opened' }) },
    {
      name: 'wrong field type',
      body: JSON.stringify({ ...base, id: 'p-4', type: 'app_opened', sessionSeconds: 'long' }),
    },
    {
      name: 'time zone that does not exist',
      body: JSON.stringify({ ...base, id: 'p-5', type: 'profile_upserted', timeZone: 'Mars/Olympus_Mons' }),
    },
    {
      name: 'oversize',
      body: JSON.stringify({ ...base, id: 'p-6', type: 'app_opened', padding: 'x'.repeat(20_000) }),
    },
    {
      name: 'invalid email (value must not be logged)',
      body: JSON.stringify({ ...base, id: 'p-7', type: 'profile_upserted', email: 'secret.person@@example.com' }),
    },
  ];
}
