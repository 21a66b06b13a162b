/**
 * `npm run demo`: the product's main job on the local stack (no AWS account, no Docker).
 *
 * Starts DynamoDB Local, fauxqs (SQS, SNS) and aws-ses-v2-local; draws a simulated population from the
 * simulator's default world (time zones, hidden response curves, channel habits); sends each user's
 * history (profile, app sessions, past notifications and what they did with them) through the events
 * queue into the real ingest, and pretrains the bandit on the same history (model/pretrain.ts, put as the
 * head model as `sto pretrain` puts it), so it starts warm, as the holdout's heuristic does from the users
 * table; then lives through several simulated days: producers' notification requests go to the requests
 * queue, decide picks channel and time (the bandit, or the heuristic for the holdout), the sweeper hands
 * due sends to dispatch, dispatch sends through the SES emulator and the SNS sink, the simulated users
 * react to what reaches them (opens, clicks, unsubscribes, drawn from their hidden truth) with events
 * carrying the decision id, windows close, the learner updates the model, decide refreshes.
 *
 * Ends with a summary and demo-output/report.html (+ summary.json, and the decision log as JSONL):
 * sends by channel and local hour, reward of the bandit against the holdout, guardrail breaches (audited
 * independently of the product's guardrail code; must be 0), duplicate sends (must be 0).
 *
 * Options (environment): DEMO_USERS (default 250), DEMO_DAYS (default 5), DEMO_SEED (default 7), DEMO_PRETRAIN=0
 * (no pretraining: the bandit starts cold, for a before/after comparison).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { TopLevelSpec } from 'vega-lite';
import { defaultConfig } from '#config/load.ts';
import type { ChannelName } from '#config/schema.ts';
import type { IngestEvent, NotificationKind, NotificationRequest } from '#events/index.ts';
import { CLOSER_WATERMARK_ID, settledReward } from '#lambdas/rewards/index.ts';
import { decisionIdFor } from '#lambdas/shared/decision-item.ts';
import { exportDecisionLog } from '#lambdas/shared/decision-log.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { pretrainPolicy } from '#model/pretrain.ts';
import { Rng } from '#model/random.ts';
import { applyEvent, type UserState } from '#model/user-state.ts';
import { auditSend, type BreachKind } from '#sim/guardrail-audit.ts';
import { loadPopulationFile, shippedPopulationPath } from '#sim/population.ts';
import { renderSvg } from '#sim/report.ts';
import { Timeline } from '#sim/timeline.ts';
import {
  affinityTable,
  DAY_MS,
  drawInitialUsers,
  drawSendOutcomes,
  HOUR_MS,
  MINUTE_MS,
  responseProbabilities,
  simulationStartMs,
  type UserTruth,
  ZoneClock,
} from '#sim/truth.ts';
import { arrivalState, type WarmupLog, warmedUpState, warmupEvents } from '#sim/warmup.ts';
import { putPretrainedModel } from '../cli/commands/pretrain.ts';
import { startProgress } from '../cli/progress.ts';
import { type Delivery, SimulatedClock, startLocalLoop } from './loop.ts';
import { readSentEmails } from './ses-inbox.ts';
import { startLocalStack } from './stack.ts';

const USERS = Number(process.env.DEMO_USERS ?? 250);
const DAYS = Number(process.env.DEMO_DAYS ?? 5);
const SEED = Number(process.env.DEMO_SEED ?? 7);
const PRETRAIN = process.env.DEMO_PRETRAIN !== '0';
const STEP_MS = 15 * MINUTE_MS;
const OUT_DIR = 'demo-output';

/** The simulator names some kinds its own way; the event contract's kinds are these. */
const KIND: Record<string, NotificationKind> = {
  promotion: 'promotional',
  newsletter: 'digest',
  reminder: 'reminder',
  social: 'social',
  transactional: 'transactional',
};

const iso = (ms: number) => new Date(ms).toISOString();
const t0 = performance.now();

// --- the world ----------------------------------------------------------------------------------------------
const base = loadPopulationFile(shippedPopulationPath('default'));
const population = {
  ...base,
  users: USERS,
  coldStart: { ...base.coldStart, newUsersPerDay: 0, warmupDays: 14 },
};
const config = defaultConfig();
config.holdout.share = 0.2; // a holdout big enough to compare against in a few days
const worldRng = new Rng(SEED);
const zoneClock = new ZoneClock();
const timeline = new Timeline(population, worldRng, zoneClock);
const affinity = affinityTable(population);
const users = drawInitialUsers(population, worldRng);
const byId = new Map(users.map((u) => [u.userId, u]));
const startMs = simulationStartMs(population);
const decay = { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone };

/** What the audit knows of each user: consents as the product was told them (independent of its code). */
const auditState = new Map<string, UserState>(users.map((u) => [u.userId, arrivalState(u, decay)]));

function contactOf(u: UserTruth) {
  return {
    ...(u.reachable.email && { email: `user${u.index}@demo.example` }),
    ...(u.reachable.sms && { phone: `+1555${String(1_000_000 + u.index).slice(1)}` }),
    ...(u.reachable.push && {
      pushEndpointArn: `arn:aws:sns:us-east-1:000000000000:endpoint/GCM/demo-app/${String(u.index).padStart(12, '0')}`,
    }),
  };
}

/**
 * A user's history before day 0 as the producers would have sent it: profile (with contact data), sessions,
 * past sends and what they led to, without decision ids (a real legacy log has none).
 */
function historyEvents(u: UserTruth): IngestEvent[] {
  const log: WarmupLog = { sessions: [], sends: [] };
  warmedUpState(u, { population, decay, rng: worldRng.fork('warmup'), clock: zoneClock, affinity, timeline }, log);
  return warmupEvents(u, log, { decisionIds: false, profile: contactOf(u) });
}

/** Pretrains a policy on the history and puts it as the head model, as `sto pretrain` does (shared code). */
async function warmStart(history: IngestEvent[]) {
  const pretrained = await pretrainPolicy(history, config, { endMs: startMs });
  try {
    const store = modelTableStore(stack.clients.doc, stack.tableNames.model);
    const { version } = await putPretrainedModel(store, pretrained.policy, {
      now: startMs,
      where: 'the local model table',
    });
    return {
      sendsLearned: pretrained.rows,
      leftOut: pretrained.skipped,
      attributed: pretrained.events.attributed,
      unattributed: pretrained.events.unattributed,
      meanReward: pretrained.reward.mean,
      modelVersion: version,
    };
  } finally {
    pretrained.policy.dispose();
  }
}

interface Pending<T> {
  atMs: number;
  item: T;
}

/** The day's producer requests and app sessions, in time order. */
function dayTraffic(day: number): { requests: Pending<NotificationRequest>[]; sessions: Pending<IngestEvent>[] } {
  const requests: Pending<NotificationRequest>[] = [];
  const sessions: Pending<IngestEvent>[] = [];
  for (const u of users) {
    for (const [i, t] of timeline.sessions(u, day).entries()) {
      sessions.push({
        atMs: t,
        item: {
          schemaVersion: 1,
          id: `s-${u.index}-${day}-${i}`,
          type: 'app_opened',
          userId: u.userId,
          occurredAt: iso(t),
        },
      });
    }
    for (const r of timeline.requests(u, day)) {
      const kind = KIND[r.kind] ?? 'promotional';
      const content = {
        email: { subject: `Demo ${kind}`, text: `A ${kind} notification.` },
        push: { title: `Demo ${kind}`, body: `A ${kind} notification.` },
        sms: { text: `Demo ${kind}. Reply STOP to opt out` },
      };
      requests.push({
        atMs: r.arrivalMs,
        item: {
          schemaVersion: 1,
          id: `req-${r.id.replaceAll('/', '-')}`,
          type: 'notification_requested',
          userId: u.userId,
          occurredAt: iso(r.arrivalMs),
          campaignId: `demo-${r.kind}`,
          kind,
          content: Object.fromEntries(r.allowedChannels.map((c) => [c, content[c]])),
          allowedChannels: r.allowedChannels,
          window: { notBefore: iso(r.window.notBeforeMs), notAfter: iso(r.window.notAfterMs) },
          ...(r.ignoreQuietHours && kind === 'transactional' && { ignoreQuietHours: true }),
        } as NotificationRequest,
      });
    }
  }
  requests.sort((a, b) => a.atMs - b.atMs);
  sessions.sort((a, b) => a.atMs - b.atMs);
  return { requests, sessions };
}

function takeDue<T>(queue: Pending<T>[], now: number): T[] {
  let n = 0;
  while (n < queue.length && queue[n].atMs <= now) n++;
  return queue.splice(0, n).map((p) => p.item);
}

// --- run ------------------------------------------------------------------------------------------------------
console.log(
  `Demo: ${USERS} simulated users, ${DAYS} days, holdout ${config.holdout.share * 100}% on the heuristic (seed ${SEED})`,
);
console.log('Starting the local stack (DynamoDB Local, fauxqs, aws-ses-v2-local)...');
const stack = await startLocalStack();
let exitCode = 0;
try {
  console.log(`  up in ${(stack.timings.totalMs / 1000).toFixed(1)} s`);
  const clock = new SimulatedClock(startMs);
  const loop = await startLocalLoop({ stack, config, clock });

  const history = users.flatMap(historyEvents);
  console.log(
    `Sending ${history.length} history events (${USERS} profiles, sessions, past notifications) to ingest...`,
  );
  await loop.sendEvents(history);
  await loop.settle(300_000);
  const refused = Object.entries(loop.stats.refused);
  console.log(
    `  applied ${loop.stats.eventsApplied} events${refused.length ? `; refused: ${refused.map(([r, n]) => `${r} ${n}`).join(', ')}` : ''}`,
  );

  // Warm start: the bandit learns from the same history before day 0 (what `sto pretrain` does on a deployment),
  // as the holdout's heuristic already reads it from the users table that ingest just filled.
  const pretrained = PRETRAIN ? await warmStart(history) : undefined;
  if (pretrained) {
    loop.stats.modelVersion = Math.max(loop.stats.modelVersion, pretrained.modelVersion);
    const { byDecisionId, byNearestDelivery } = pretrained.attributed;
    console.log(
      `Pretrained the bandit on it: ${pretrained.sendsLearned} past sends learned (${pretrained.leftOut.windowOpen} with a window still open at day 0 left out), ` +
        `${byDecisionId + byNearestDelivery} engagement events attributed; head model v${pretrained.modelVersion}`,
    );
  } else console.log('No pretraining (DEMO_PRETRAIN=0): the bandit starts cold');

  const requestsById = new Map<string, NotificationRequest>();
  const futureEvents: Pending<IngestEvent>[] = [];
  const breaches: { decisionId: string; kinds: BreachKind[] }[] = [];
  const sendsByUser = new Map<string, { channel: ChannelName; atMs: number }[]>();
  let handled = 0;
  const react = (d: Delivery) => {
    const request = requestsById.get(d.decisionId);
    const u = request && byId.get(request.userId);
    if (!request || !u) return;
    // the independent audit of the send, at its instant
    const past = sendsByUser.get(u.userId) ?? [];
    const kinds = auditSend(config, zoneClock, auditState.get(u.userId) as UserState, past, {
      channel: d.channel,
      sendAtMs: d.atMs,
      window: { notBeforeMs: Date.parse(request.window.notBefore), notAfterMs: Date.parse(request.window.notAfter) },
      allowedChannels: request.allowedChannels,
      kind: request.kind,
      ignoreQuietHours: request.ignoreQuietHours === true,
    });
    if (kinds.length) breaches.push({ decisionId: d.decisionId, kinds });
    past.push({ channel: d.channel, atMs: d.atMs });
    sendsByUser.set(u.userId, past);
    // the user's reaction, from the hidden truth
    const simKind = Object.entries(KIND).find(([, k]) => k === request.kind)?.[0] ?? request.kind;
    const recent = past.filter((s) => s.atMs < d.atMs && s.atMs > d.atMs - population.fatigue.windowHours * HOUR_MS);
    const p = responseProbabilities(population, affinity, u, {
      channel: d.channel,
      kind: simKind,
      hourOfWeek: zoneClock.hourOfWeek(u.zone, d.atMs),
      recentSends: recent.length,
    });
    const outcomes = drawSendOutcomes(
      population.channels[d.channel],
      p,
      d.atMs,
      worldRng.fork(`outcome/${d.decisionId}`),
    );
    for (const [j, o] of outcomes.entries()) {
      futureEvents.push({
        atMs: o.atMs,
        item: {
          schemaVersion: 1,
          id: `o-${d.decisionId}-${j}`,
          type: o.type,
          userId: u.userId,
          occurredAt: iso(o.atMs),
          channel: d.channel,
          decisionId: d.decisionId,
        } as IngestEvent,
      });
    }
    futureEvents.sort((a, b) => a.atMs - b.atMs);
  };

  const stepsPerDay = DAY_MS / STEP_MS;
  const extraSteps = Math.ceil(((config.reward.attributionWindowHours + 1) * HOUR_MS) / STEP_MS);
  const totalSteps = DAYS * stepsPerDay + extraSteps;
  const bar = startProgress(totalSteps, 'simulating');
  let requests: Pending<NotificationRequest>[] = [];
  let sessions: Pending<IngestEvent>[] = [];
  for (let step = 0; step < totalSteps; step++) {
    const now = startMs + step * STEP_MS;
    clock.set(now);
    if (step % stepsPerDay === 0 && step / stepsPerDay < DAYS) {
      const traffic = dayTraffic(step / stepsPerDay);
      requests = requests.concat(traffic.requests);
      sessions = sessions.concat(traffic.sessions);
      for (const r of traffic.requests) requestsById.set(decisionIdFor(r.item.id), r.item);
    }
    const events = [...takeDue(sessions, now), ...takeDue(futureEvents, now)];
    for (const e of events) if (e.type === 'unsubscribed') applyEvent(auditState.get(e.userId) as UserState, e, decay);
    await loop.sendEvents(events);
    await loop.sendRequests(takeDue(requests, now));
    await loop.settle();
    await loop.sweep();
    await loop.settle();
    for (; handled < loop.deliveries.length; handled++) react(loop.deliveries[handled]);
    const day = Math.min(DAYS, Math.floor(step / stepsPerDay) + 1);
    bar.update(step + 1, {
      detail: `day ${day}${step >= DAYS * stepsPerDay ? ' (closing windows)' : ''}: ${loop.stats.requestsDecided} decided, ${loop.deliveries.length} sent, model v${loop.stats.modelVersion}`,
    });
  }
  bar.stop();
  await loop.stop();

  // --- what happened --------------------------------------------------------------------------------------
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await stack.clients.doc.send(
      new ScanCommand({ TableName: stack.tableNames.decisions, ExclusiveStartKey: startKey }),
    );
    // the reward closer's watermark shares the table; it is not a decision
    items.push(...(page.Items ?? []).filter((item) => item.decisionId !== CLOSER_WATERMARK_ID));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const perDecision = new Map<string, number>();
  for (const d of loop.deliveries) perDecision.set(d.decisionId, (perDecision.get(d.decisionId) ?? 0) + 1);
  const duplicateSends = [...perDecision.values()].filter((n) => n > 1).length;
  const emailsInInbox = (await readSentEmails(stack)).length;
  const emailDeliveries = loop.deliveries.filter((d) => d.channel === 'email').length;

  const arms = { bandit: [] as number[], holdout: [] as number[] };
  const byDay: Record<string, { bandit: number[]; holdout: number[] }> = {};
  for (const item of items) {
    // the closer writes no reward on the item: it is computed from the counted events, as the closer did
    const { closed, reward } = settledReward(item, config.reward, clock.now());
    if (!closed || reward === undefined) continue;
    const group = item.holdout ? 'holdout' : 'bandit';
    arms[group].push(reward);
    const day = `day ${Math.floor(((item.decidedAt as number) - startMs) / DAY_MS) + 1}`;
    byDay[day] ??= { bandit: [], holdout: [] };
    byDay[day][group].push(reward);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const diffInterval = bootstrapDifference(arms.bandit, arms.holdout, new Rng(SEED + 1));
  const statuses: Record<string, number> = {};
  for (const item of items) statuses[item.status as string] = (statuses[item.status as string] ?? 0) + 1;
  const lateness = [...loop.stats.sweepLatenessMs].sort((a, b) => a - b);
  const delivered = loop.deliveries.length;
  const summary = {
    users: USERS,
    days: DAYS,
    seed: SEED,
    configVersion: config.version,
    requests: requestsById.size,
    decisions: items.length,
    statuses,
    sends: delivered,
    sendsByChannel: countBy(loop.deliveries, (d) => d.channel),
    guardrailBreaches: breaches.length,
    duplicateSends,
    emailsInSesInbox: emailsInInbox,
    emailSendsRecorded: emailDeliveries,
    dispatchOutcomes: loop.stats.dispatch,
    rewardsCounted: loop.stats.rewardsCounted,
    rewardsClosed: loop.stats.rewardsClosed,
    rewardsApplied: loop.stats.rewardsApplied,
    modelVersion: loop.stats.modelVersion,
    pretrained: pretrained ?? false,
    reward: {
      bandit: { decisions: arms.bandit.length, mean: mean(arms.bandit) },
      holdout: { decisions: arms.holdout.length, mean: mean(arms.holdout) },
      difference: mean(arms.bandit) - mean(arms.holdout),
      difference95: diffInterval,
      byDay: Object.fromEntries(
        Object.entries(byDay).map(([d, v]) => [d, { bandit: mean(v.bandit), holdout: mean(v.holdout) }]),
      ),
    },
    dynamo: {
      reads: loop.counts.reads,
      writes: loop.counts.writes,
      readsPerSend: loop.counts.reads / Math.max(1, delivered),
      writesPerSend: loop.counts.writes / Math.max(1, delivered),
      note: 'all requests of the run (history ingest, sessions, decisions that did not lead to a send) divided by sends',
    },
    sweepLatenessMs: { p50: quantile(lateness, 0.5), p99: quantile(lateness, 0.99), stepMs: STEP_MS },
    seconds: Math.round((performance.now() - t0) / 1000),
  };

  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const log: string[] = [];
  for await (const row of exportDecisionLog({
    doc: stack.clients.doc,
    decisionsTable: stack.tableNames.decisions,
    from: startMs - DAY_MS,
    to: startMs + (DAYS + 3) * DAY_MS,
    settlement: { reward: config.reward, now: clock.now() },
  })) {
    log.push(JSON.stringify(row));
  }
  writeFileSync(join(OUT_DIR, 'decisions.jsonl'), `${log.join('\n')}\n`);
  writeFileSync(join(OUT_DIR, 'report.html'), await renderHtml(summary, loop.deliveries));

  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log('\nSummary');
  console.log(
    `  requests decided                 ${items.length} (${Object.entries(statuses)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')})`,
  );
  console.log(
    `  sends                            ${delivered} (${Object.entries(summary.sendsByChannel)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ')})`,
  );
  console.log(`  guardrail breaches               ${breaches.length} (audited independently; must be 0)`);
  console.log(
    `  duplicate sends                  ${duplicateSends} (must be 0); SES inbox ${emailsInInbox} = email sends ${emailDeliveries}`,
  );
  console.log(
    `  engagement events counted        ${loop.stats.rewardsCounted}; windows closed ${loop.stats.rewardsClosed}; rewards learned ${loop.stats.rewardsApplied} (model v${loop.stats.modelVersion})`,
  );
  console.log(
    `  reward per decision              bandit ${summary.reward.bandit.mean.toFixed(4)} (${arms.bandit.length}) vs holdout ${summary.reward.holdout.mean.toFixed(4)} (${arms.holdout.length}); ` +
      `difference ${summary.reward.difference.toFixed(4)} [${diffInterval.map((x) => x.toFixed(4)).join(', ')}]`,
  );
  console.log(
    `  holdout share                    ${pct(arms.holdout.length / Math.max(1, arms.holdout.length + arms.bandit.length))}`,
  );
  console.log(`  report                           ${join(OUT_DIR, 'report.html')} (and summary.json, decisions.jsonl)`);
  console.log(`done in ${summary.seconds} s`);
  if (breaches.length > 0 || duplicateSends > 0 || emailsInInbox !== emailDeliveries) exitCode = 1;
} finally {
  await stack.stop();
}
process.exitCode = exitCode;

// --- helpers --------------------------------------------------------------------------------------------------
function countBy<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** 95% percentile bootstrap interval of mean(a) - mean(b). */
function bootstrapDifference(a: readonly number[], b: readonly number[], rng: Rng, draws = 2000): [number, number] {
  if (a.length === 0 || b.length === 0) return [Number.NaN, Number.NaN];
  const diffs: number[] = [];
  const resampleMean = (xs: readonly number[]) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)];
    return s / xs.length;
  };
  for (let i = 0; i < draws; i++) diffs.push(resampleMean(a) - resampleMean(b));
  diffs.sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * draws)], diffs[Math.floor(0.975 * draws)]];
}

async function renderHtml(
  summary: Record<string, unknown> & { reward: { byDay: Record<string, { bandit: number; holdout: number }> } },
  deliveries: readonly Delivery[],
): Promise<string> {
  const byHour = new Map<string, number>();
  for (const d of deliveries) {
    const u = byId.get(requestsUser(d.decisionId));
    const hour = u ? zoneClock.hourOfWeek(u.zone, d.atMs) % 24 : new Date(d.atMs).getUTCHours();
    const key = `${d.channel}/${hour}`;
    byHour.set(key, (byHour.get(key) ?? 0) + 1);
  }
  const sendsSpec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Sends by channel and local hour of the user',
    width: 640,
    height: 220,
    data: {
      values: [...byHour].map(([k, n]) => ({ channel: k.split('/')[0], hour: Number(k.split('/')[1]), sends: n })),
    },
    mark: 'bar',
    encoding: {
      x: { field: 'hour', type: 'ordinal', title: 'local hour' },
      y: { field: 'sends', type: 'quantitative', aggregate: 'sum' },
      color: { field: 'channel', type: 'nominal' },
    },
  };
  const rewardSpec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Mean reward per decision by day decided (closed windows)',
    width: 640,
    height: 220,
    data: {
      values: Object.entries(summary.reward.byDay).flatMap(([day, v]) => [
        { day, policy: 'bandit', reward: v.bandit },
        { day, policy: 'holdout (heuristic)', reward: v.holdout },
      ]),
    },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'day', type: 'ordinal' },
      y: { field: 'reward', type: 'quantitative' },
      color: { field: 'policy', type: 'nominal' },
    },
  };
  const [sendsSvg, rewardSvg] = await Promise.all([renderSvg(sendsSpec), renderSvg(rewardSpec)]);
  const escapeHtml = (s: string) =>
    s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string);
  return `<!doctype html><html><head><meta charset="utf-8"><title>Send-time optimizer demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f6f6f6;padding:1rem;overflow:auto}
.ok{color:#1a7f37}.bad{color:#cf222e}</style></head><body>
<h1>Send-time optimizer: local demo</h1>
<p>${summary.users} simulated users, ${summary.days} days, run through the real functions on DynamoDB Local, fauxqs and aws-ses-v2-local.</p>
<h2>Safety</h2>
<p class="${summary.guardrailBreaches === 0 ? 'ok' : 'bad'}">Guardrail breaches: ${summary.guardrailBreaches} (audited independently)</p>
<p class="${summary.duplicateSends === 0 ? 'ok' : 'bad'}">Duplicate sends: ${summary.duplicateSends}</p>
<h2>Sends</h2>${sendsSvg}
<h2>Bandit against the holdout</h2>${rewardSvg}
<h2>All numbers</h2><pre>${escapeHtml(JSON.stringify(summary, null, 2))}</pre>
</body></html>
`;
}

function requestsUser(decisionId: string): string {
  // decision ids are dec_req-<userIndex>-<day>-<i>
  const index = decisionId.split('-')[1];
  return `user-${index}`;
}
