import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  canReceive,
  decayedView,
  emptyUserState,
  type StateEvent,
  type UserState,
} from '#model/user-state.ts';

const opts = { halfLifeDays: 14, defaultTimeZone: 'UTC' };
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const total = (s: UserState) => s.engagementByHourOfWeek.reduce((a, b) => a + b, 0);

describe('engagement histogram', () => {
  it('counts an app open at the local hour of week of the user', () => {
    // Prepare: Monday 2026-11-23 08:05 in New York is 13:05 UTC
    const s = emptyUserState('u1');
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-20T00:00:00Z', timeZone: 'America/New_York' }, opts);
    // Act
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-11-23T13:05:00Z' }, opts);
    // Assess
    expect(s.engagementByHourOfWeek[8]).toBe(1);
    expect(total(s)).toBe(1);
  });

  it('halves a count after one half-life', () => {
    const s = emptyUserState('u1');
    const t0 = Date.parse('2026-11-02T10:00:00Z');
    applyEvent(s, { type: 'app_opened', occurredAt: iso(t0) }, opts);
    const later = decayedView(s, t0 + 14 * DAY, opts);
    expect(total(later)).toBeCloseTo(0.5, 10);
    expect(total(s)).toBe(1); // the view does not change the stored state
  });

  it('gives the same state whatever order events arrive in', () => {
    const events = fc.array(
      fc.record({
        offsetMin: fc.integer({ min: 0, max: 60 * 24 * 60 }),
        kind: fc.constantFrom('app_opened', 'notification_opened', 'notification_delivered', 'notification_clicked'),
        channel: fc.constantFrom('email', 'push', 'sms'),
      }),
      { minLength: 1, maxLength: 30 },
    );
    fc.assert(
      fc.property(events, fc.integer(), (list, shuffleSeed) => {
        const base = Date.parse('2026-01-01T00:00:00Z');
        const toEvent = (e: (typeof list)[number]): StateEvent =>
          e.kind === 'app_opened'
            ? { type: 'app_opened', occurredAt: iso(base + e.offsetMin * 60_000) }
            : ({ type: e.kind, channel: e.channel, occurredAt: iso(base + e.offsetMin * 60_000) } as StateEvent);
        const inOrder = emptyUserState('u');
        for (const e of list) applyEvent(inOrder, toEvent(e), opts);
        const shuffled = [...list].sort(
          (a, b) => ((a.offsetMin * 7919 + shuffleSeed) % 97) - ((b.offsetMin * 7919 + shuffleSeed) % 97),
        );
        const other = emptyUserState('u');
        for (const e of shuffled) applyEvent(other, toEvent(e), opts);
        const end = base + 61 * DAY;
        const a = decayedView(inOrder, end, opts);
        const b = decayedView(other, end, opts);
        a.engagementByHourOfWeek.forEach((v, i) => {
          expect(v).toBeCloseTo(b.engagementByHourOfWeek[i], 9);
        });
        for (const c of ['email', 'push', 'sms'] as const) {
          expect(a.channels[c].sends).toBeCloseTo(b.channels[c].sends, 9);
          expect(a.channels[c].opens).toBeCloseTo(b.channels[c].opens, 9);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('follows the user across a DST change: 08:30 local stays hour 8 in summer and winter', () => {
    const s = emptyUserState('u1');
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-01-01T00:00:00Z', timeZone: 'Europe/Berlin' }, opts);
    // Monday 2026-03-23 08:30 CET = 07:30Z; Monday 2026-03-30 08:30 CEST = 06:30Z
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-03-23T07:30:00Z' }, opts);
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-03-30T06:30:00Z' }, opts);
    // the two opens are 167 real hours apart (the clocks jumped): the first has decayed by that much
    expect(s.engagementByHourOfWeek[8]).toBeCloseTo(1 + 2 ** (-167 / (14 * 24)), 9);
    expect(s.engagementByHourOfWeek[7]).toBe(0);
  });

  it('puts an open in the repeated hour of the fall-back night at 01:00 local, Sunday', () => {
    const s = emptyUserState('u1');
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-01-01T00:00:00Z', timeZone: 'America/New_York' }, opts);
    // 2026-11-01 01:30 EDT = 05:30Z and 01:30 EST = 06:30Z: both are 01:xx on Sunday (6 * 24 + 1)
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-11-01T05:30:00Z' }, opts);
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-11-01T06:30:00Z' }, opts);
    expect(s.engagementByHourOfWeek[6 * 24 + 1]).toBeCloseTo(1 + 2 ** (-1 / (14 * 24)), 9);
  });

  it('uses a half-hour zone correctly (Asia/Kolkata, +05:30)', () => {
    const s = emptyUserState('u1');
    // Tuesday 2026-11-24 00:10Z = 05:40 IST
    applyEvent(s, { type: 'app_opened', occurredAt: '2026-11-24T00:10:00Z', timeZone: 'Asia/Kolkata' }, opts);
    expect(s.engagementByHourOfWeek[24 + 5]).toBe(1);
  });

  it('falls back to the default zone when none is known', () => {
    const s = emptyUserState('u1');
    applyEvent(
      s,
      { type: 'app_opened', occurredAt: '2026-11-24T00:10:00Z' },
      { ...opts, defaultTimeZone: 'Asia/Tokyo' },
    );
    expect(s.engagementByHourOfWeek[24 + 9]).toBe(1);
  });
});

describe('channel stats', () => {
  it('counts delivered, opened and clicked per channel with decay', () => {
    const s = emptyUserState('u1');
    const t0 = Date.parse('2026-11-01T10:00:00Z');
    applyEvent(s, { type: 'notification_delivered', channel: 'push', occurredAt: iso(t0) }, opts);
    applyEvent(s, { type: 'notification_opened', channel: 'push', occurredAt: iso(t0 + 14 * DAY) }, opts);
    expect(s.channels.push.sends).toBeCloseTo(0.5, 10);
    expect(s.channels.push.opens).toBe(1);
    expect(s.channels.email.sends).toBe(0);
  });
});

describe('consents and suppressions', () => {
  it('requires an explicit opt-in before a channel can receive', () => {
    const s = emptyUserState('u1');
    expect(canReceive(s, 'email')).toBe(false);
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-01T00:00:00Z', consents: { email: true } }, opts);
    expect(canReceive(s, 'email')).toBe(true);
    expect(canReceive(s, 'sms')).toBe(false);
  });

  it('turns a channel off on unsubscribe, complaint and permanent bounce, not on a transient bounce', () => {
    const s = emptyUserState('u1');
    applyEvent(
      s,
      {
        type: 'profile_upserted',
        occurredAt: '2026-11-01T00:00:00Z',
        consents: { email: true, push: true, sms: true },
      },
      opts,
    );
    applyEvent(
      s,
      { type: 'bounced', channel: 'email', bounceType: 'transient', occurredAt: '2026-11-02T00:00:00Z' },
      opts,
    );
    expect(canReceive(s, 'email')).toBe(true);
    applyEvent(
      s,
      { type: 'bounced', channel: 'email', bounceType: 'permanent', occurredAt: '2026-11-02T01:00:00Z' },
      opts,
    );
    applyEvent(s, { type: 'unsubscribed', channel: 'push', occurredAt: '2026-11-02T00:00:00Z' }, opts);
    applyEvent(s, { type: 'complained', channel: 'sms', occurredAt: '2026-11-02T00:00:00Z' }, opts);
    expect(canReceive(s, 'email')).toBe(false);
    expect(s.consent.email.suppressed).toBe('bounced');
    expect(s.consent.push.suppressed).toBe('unsubscribed');
    expect(s.consent.sms.suppressed).toBe('complained');
  });

  it('lets the later event win when an old opt-in arrives after an unsubscribe', () => {
    const s = emptyUserState('u1');
    applyEvent(s, { type: 'unsubscribed', channel: 'email', occurredAt: '2026-11-05T00:00:00Z' }, opts);
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-01T00:00:00Z', consents: { email: true } }, opts);
    expect(canReceive(s, 'email')).toBe(false);
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-06T00:00:00Z', consents: { email: true } }, opts);
    expect(canReceive(s, 'email')).toBe(true);
  });

  it('ends a permanent bounce when a new address arrives', () => {
    const s = emptyUserState('u1');
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-01T00:00:00Z', consents: { email: true } }, opts);
    applyEvent(
      s,
      { type: 'bounced', channel: 'email', bounceType: 'permanent', occurredAt: '2026-11-02T00:00:00Z' },
      opts,
    );
    applyEvent(s, { type: 'profile_upserted', occurredAt: '2026-11-03T00:00:00Z', email: 'new@example.com' }, opts);
    expect(canReceive(s, 'email')).toBe(true);
  });
});
