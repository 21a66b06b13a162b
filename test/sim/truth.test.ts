import { describe, expect, it } from 'vitest';
import { localTime } from '#model/local-time.ts';
import { Rng } from '#model/random.ts';
import { HOURS_PER_WEEK } from '#model/user-state.ts';
import { Timeline } from '#sim/timeline.ts';
import { drawInitialUsers, ZoneClock } from '#sim/truth.ts';
import { tinyPopulation } from './helpers.ts';

describe('hidden truth', () => {
  it('draws response curves with mean 1, so open rates are rates at an average hour', () => {
    const users = drawInitialUsers(tinyPopulation(), new Rng(1));
    for (const u of users.slice(0, 20)) {
      const mean = u.response.reduce((a, b) => a + b, 0) / HOURS_PER_WEEK;
      expect(mean).toBeCloseTo(1, 10);
      expect(Math.max(...u.response)).toBeGreaterThan(1.3);
      expect(u.sessionShare.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    }
  });

  it('makes sessions follow the response curve exactly when noiseShare is 0, and not when it is 1', () => {
    const exact = drawInitialUsers(
      tinyPopulation((p) => {
        p.sessions.noiseShare = 0;
      }),
      new Rng(2),
    )[0];
    for (let h = 0; h < HOURS_PER_WEEK; h++)
      expect(exact.sessionShare[h] * HOURS_PER_WEEK).toBeCloseTo(exact.response[h], 10);
    const noisy = drawInitialUsers(
      tinyPopulation((p) => {
        p.sessions.noiseShare = 1;
      }),
      new Rng(2),
    )[0];
    expect(noisy.response).toEqual(exact.response); // the same user: only what sessions reveal changed
    expect(noisy.sessionShare.some((v, h) => Math.abs(v * HOURS_PER_WEEK - exact.response[h]) > 0.1)).toBe(true);
  });

  it('gives the same user the same truth whatever else is drawn', () => {
    const a = drawInitialUsers(tinyPopulation(), new Rng(3));
    const b = drawInitialUsers(
      tinyPopulation((p) => {
        p.users = 10;
      }),
      new Rng(3),
    );
    expect(b[7].response).toEqual(a[7].response);
    expect(b[7].open).toEqual(a[7].open);
  });

  it('places sessions at the hours the user prefers', () => {
    const population = tinyPopulation((p) => {
      p.sessions.noiseShare = 0;
      p.sessions.perDay = { mean: 20, shape: 1000 };
      p.coldStart = { ...p.coldStart, share: 0, warmupDays: 28 };
    });
    const rng = new Rng(4);
    const clock = new ZoneClock();
    const [user] = drawInitialUsers(population, rng);
    const timeline = new Timeline(population, rng, clock);
    const counts = new Array(HOURS_PER_WEEK).fill(0);
    for (let d = -28; d < 0; d++) for (const t of timeline.sessions(user, d)) counts[clock.hourOfWeek(user.zone, t)]++;
    const total = counts.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(20 * 28 * 0.8);
    const peak = user.response.indexOf(Math.max(...user.response));
    expect(counts[peak] / total).toBeGreaterThan(1.5 / HOURS_PER_WEEK);
  });
});

describe('ZoneClock', () => {
  it('agrees with localTime across a DST change', () => {
    const clock = new ZoneClock();
    const from = Date.parse('2026-03-28T00:00:00Z');
    for (let t = from; t < from + 3 * 86_400_000; t += 17 * 60_000) {
      for (const zone of ['Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu', 'Australia/Adelaide']) {
        expect(clock.hourOfWeek(zone, t), `${zone} ${new Date(t).toISOString()}`).toBe(localTime(t, zone).hourOfWeek);
      }
    }
  });
});
