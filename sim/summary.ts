/**
 * The numbers a simulation is judged by, with uncertainty: every interval is a 95% t-interval over
 * seeds (each seed is an independent replicate of the whole world), and comparisons between policies
 * are paired by seed, because common random numbers make the per-seed differences far less noisy
 * than the per-policy means.
 */
import type { ChannelName } from '#config/schema.ts';
import type { PolicyTotals, SimulationResult } from './engine.ts';
import { type MeanInterval, meanInterval } from './math.ts';

export interface DayPoint {
  day: number;
  mean: number;
  low: number;
  high: number;
}

export interface PolicySummary {
  name: string;
  learns: boolean;
  configVersion: string;
  /** reward per notification request (0 for a request never sent), over seeds */
  meanReward: MeanInterval;
  /** reward per send */
  rewardPerSend: MeanInterval;
  /** mean reward of requests arriving in the last min(7, days) simulated days (`lastWeekDays`) */
  lastWeekReward: MeanInterval;
  /** per seed: this policy's mean reward / the oracle's; absent without an oracle */
  shareOfOracle?: MeanInterval;
  lastWeekShareOfOracle?: MeanInterval;
  /** per seed: oracle's mean reward - this policy's */
  regret?: MeanInterval;
  /** per seed: (this - heuristic) / heuristic, paired */
  liftVsHeuristic?: MeanInterval;
  lastWeekLiftVsHeuristic?: MeanInterval;
  /** per seed: (this - heuristic) / (oracle - heuristic): the share of the heuristic's regret this policy removes */
  heuristicRegretRemoved?: MeanInterval;
  lastWeekHeuristicRegretRemoved?: MeanInterval;
  /** per seed means */
  requests: number;
  sends: number;
  noArm: number;
  noArmReasons: Record<string, number>;
  stoppedAtDispatch: Record<string, number>;
  sendsByChannel: Record<ChannelName, number>;
  /** share of sends per channel */
  channelShare: Record<ChannelName, number>;
  /** opt-outs per seed, by channel */
  optOuts: Record<ChannelName, number>;
  /** per 1000 sends */
  optOutsPer1000Sends: number;
  /** attributed opens and clicks per send */
  openRate: number;
  clickRate: number;
  /** total over all seeds: must be 0 */
  guardrailBreaches: number;
  breachesByKind: Record<string, number>;
  /** sends by channel and user-local hour, summed over seeds */
  sendsByLocalHour: Record<ChannelName, number[]>;
  /** mean reward per request by simulated day of arrival */
  rewardByDay: DayPoint[];
  /** per day, this policy's reward / the oracle's, paired by seed (day-to-day swings common to all cancel) */
  shareOfOracleByDay?: DayPoint[];
  exploredShare: number;
  decideMicrosPerRequest: number;
}

export interface SimulationSummary {
  population: string;
  configVersion: string;
  days: number;
  seeds: number[];
  /** users at the end of the run (day-0 users plus arrivals), mean over seeds */
  users: number;
  wallSeconds: number;
  /** first and last simulated day (inclusive) of the "last week" figures: the last min(7, days) days */
  lastWeekDays: [number, number];
  policies: Record<string, PolicySummary>;
  /**
   * What makes some figures missing or meaningless, one sentence each; empty when nothing does. Every `null`
   * in summary.json (a ratio whose denominator is 0, NaN in memory) is explained here: when no notification
   * was sent at all, the first warning starts "no notification was sent: " and says why.
   */
  warnings: string[];
}

const CHANNELS: readonly ChannelName[] = ['email', 'push', 'sms'];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sumRange = (xs: number[], from: number, to: number) => xs.slice(from, to).reduce((a, b) => a + b, 0);

/**
 * Summarises a simulation result.
 * @example const summary = summarize(await simulate(options)); summary.policies.bandit.liftVsHeuristic
 */
export function summarize(result: SimulationResult): SimulationSummary {
  const { days, runs } = result;
  const lastFrom = Math.max(0, days - 7);
  const perSeed = (name: string) => runs.map((r) => r.policies[name]);
  const reward = (name: string) => perSeed(name).map((t) => t.reward / Math.max(1, t.requests));
  const lastWeek = (name: string) =>
    perSeed(name).map(
      (t) => sumRange(t.rewardByDay, lastFrom, days) / Math.max(1, sumRange(t.requestsByDay, lastFrom, days)),
    );
  const has = (name: string) => result.policies.some((p) => p.name === name);
  const oracle = has('oracle') ? { all: reward('oracle'), last: lastWeek('oracle') } : undefined;
  const heuristic = has('heuristic') ? { all: reward('heuristic'), last: lastWeek('heuristic') } : undefined;

  const policies: Record<string, PolicySummary> = {};
  for (const p of result.policies) {
    const totals = perSeed(p.name);
    const all = reward(p.name);
    const last = lastWeek(p.name);
    const paired = (mine: number[], theirs: number[], f: (a: number, b: number, i: number) => number) =>
      meanInterval(mine.map((v, i) => f(v, theirs[i], i)));
    const sends = mean(totals.map((t) => t.sends));
    const sendsByChannel = Object.fromEntries(
      CHANNELS.map((c) => [c, mean(totals.map((t) => t.sendsByChannel[c]))]),
    ) as Record<ChannelName, number>;
    const optOuts = Object.fromEntries(CHANNELS.map((c) => [c, mean(totals.map((t) => t.optOuts[c]))])) as Record<
      ChannelName,
      number
    >;
    const breachesByKind: Record<string, number> = {};
    for (const t of totals)
      for (const [k, n] of Object.entries(t.breaches)) breachesByKind[k] = (breachesByKind[k] ?? 0) + n;
    const mergeCounts = (pick: (t: (typeof totals)[number]) => Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const t of totals) for (const [k, n] of Object.entries(pick(t))) out[k] = (out[k] ?? 0) + n / totals.length;
      return out;
    };
    const summary: PolicySummary = {
      name: p.name,
      learns: p.learns,
      configVersion: p.configVersion,
      meanReward: meanInterval(all),
      rewardPerSend: meanInterval(totals.map((t) => t.reward / Math.max(1, t.sends))),
      lastWeekReward: meanInterval(last),
      requests: mean(totals.map((t) => t.requests)),
      sends,
      noArm: mean(totals.map((t) => t.noArm)),
      noArmReasons: mergeCounts((t) => t.noArmReasons),
      stoppedAtDispatch: mergeCounts((t) => t.stoppedAtDispatch),
      sendsByChannel,
      channelShare: Object.fromEntries(CHANNELS.map((c) => [c, sends ? sendsByChannel[c] / sends : 0])) as Record<
        ChannelName,
        number
      >,
      optOuts,
      optOutsPer1000Sends: sends ? (1000 * CHANNELS.reduce((a, c) => a + optOuts[c], 0)) / sends : 0,
      openRate: mean(totals.map((t) => t.attributed.opens / Math.max(1, t.sends))),
      clickRate: mean(totals.map((t) => t.attributed.clicks / Math.max(1, t.sends))),
      guardrailBreaches: Object.values(breachesByKind).reduce((a, b) => a + b, 0),
      breachesByKind,
      sendsByLocalHour: Object.fromEntries(
        CHANNELS.map((c) => [
          c,
          Array.from({ length: 24 }, (_, h) => totals.reduce((a, t) => a + t.sendsByLocalHour[c][h], 0)),
        ]),
      ) as Record<ChannelName, number[]>,
      rewardByDay: Array.from({ length: days }, (_, day) => {
        const m = meanInterval(totals.map((t) => t.rewardByDay[day] / Math.max(1, t.requestsByDay[day])));
        return { day, mean: m.mean, low: m.low, high: m.high };
      }),
      exploredShare: mean(totals.map((t) => t.explored / Math.max(1, t.requests - t.noArm))),
      decideMicrosPerRequest: mean(totals.map((t) => (1000 * t.decideMs) / Math.max(1, t.requests))),
    };
    if (oracle) {
      const oracleTotals = perSeed('oracle');
      const dayReward = (t: PolicyTotals, day: number) => t.rewardByDay[day] / Math.max(1, t.requestsByDay[day]);
      summary.shareOfOracleByDay = Array.from({ length: days }, (_, day) => {
        const m = meanInterval(totals.map((t, i) => dayReward(t, day) / dayReward(oracleTotals[i], day)));
        return { day, mean: m.mean, low: m.low, high: m.high };
      });
      summary.shareOfOracle = paired(all, oracle.all, (a, o) => a / o);
      summary.lastWeekShareOfOracle = paired(last, oracle.last, (a, o) => a / o);
      summary.regret = paired(all, oracle.all, (a, o) => o - a);
    }
    if (heuristic && p.name !== 'heuristic') {
      summary.liftVsHeuristic = paired(all, heuristic.all, (a, h) => (a - h) / h);
      summary.lastWeekLiftVsHeuristic = paired(last, heuristic.last, (a, h) => (a - h) / h);
      if (oracle && p.name !== 'oracle') {
        summary.heuristicRegretRemoved = paired(all, heuristic.all, (a, h, i) => (a - h) / (oracle.all[i] - h));
        summary.lastWeekHeuristicRegretRemoved = paired(
          last,
          heuristic.last,
          (a, h, i) => (a - h) / (oracle.last[i] - h),
        );
      }
    }
    policies[p.name] = summary;
  }
  return {
    population: result.population,
    configVersion: result.configVersion,
    days,
    seeds: result.seeds,
    users: mean(runs.map((r) => r.users)),
    wallSeconds: result.wallMs / 1000,
    lastWeekDays: [lastFrom, days - 1],
    policies,
    warnings: warningsOf(policies, days - lastFrom),
  };
}

/** The ratio fields of a policy summary, and what is 0 on some seed (or day) when one is not a number. */
const RATIOS: { field: keyof PolicySummary; why: (lastDays: number) => string }[] = [
  { field: 'shareOfOracle', why: () => "the oracle's mean reward is 0 on at least one seed" },
  { field: 'lastWeekShareOfOracle', why: (n) => `the oracle's mean reward over the last ${n} days is 0 on a seed` },
  { field: 'shareOfOracleByDay', why: () => "the oracle's reward is 0 on that day and seed" },
  { field: 'liftVsHeuristic', why: () => "the heuristic's mean reward is 0 on at least one seed" },
  {
    field: 'lastWeekLiftVsHeuristic',
    why: (n) => `the heuristic's mean reward over the last ${n} days is 0 on a seed`,
  },
  {
    field: 'heuristicRegretRemoved',
    why: () => "the oracle's mean reward equals the heuristic's on at least one seed (no regret to remove)",
  },
  {
    field: 'lastWeekHeuristicRegretRemoved',
    why: (n) => `the oracle's mean reward over the last ${n} days equals the heuristic's on a seed`,
  },
];

const hasNonFinite = (value: unknown): boolean =>
  typeof value === 'number'
    ? !Number.isFinite(value)
    : typeof value === 'object' && value !== null && Object.values(value).some(hasNonFinite);

/** "no_consent 70, outside_window 2" (per seed, mean), largest first, the most any policy had. */
function refusalReasons(policies: PolicySummary[]): string {
  const most: Record<string, number> = {};
  for (const p of policies)
    for (const [reason, n] of [...Object.entries(p.noArmReasons), ...Object.entries(p.stoppedAtDispatch)])
      most[reason] = Math.max(most[reason] ?? 0, n);
  return Object.entries(most)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${Number(n.toFixed(1))}`)
    .join(', ');
}

function noSendReason(policies: PolicySummary[]): string {
  if (policies.every((p) => p.requests === 0))
    return 'the population made no notification request (requests.perUserPerDay is 0, or the run too short for one)';
  const reasons = refusalReasons(policies);
  return `every request ended without a send (requests per seed ${Number(Math.max(...policies.map((p) => p.requests)).toFixed(1))}; why, per seed: ${reasons || 'unknown'}); check the channels' reachable shares and the kinds' allowedChannels`;
}

function warningsOf(policies: Record<string, PolicySummary>, lastDays: number): string[] {
  const all = Object.values(policies);
  const warnings: string[] = [];
  if (all.every((p) => p.sends === 0)) {
    warnings.push(
      `no notification was sent: ${noSendReason(all)}. Every reward is 0, and every ratio between policies (share of the oracle, lift, regret removed) is 0/0, written as null.`,
    );
  } else {
    for (const p of all.filter((q) => q.sends === 0))
      warnings.push(`${p.name} sent no notification: ${noSendReason([p])}.`);
  }
  const explained = new Set<string>();
  for (const { field, why } of RATIOS) {
    const names = all.filter((p) => hasNonFinite(p[field])).map((p) => p.name);
    if (names.length) warnings.push(`${field} is null for ${names.join(', ')}: ${why(lastDays)}.`);
    explained.add(field);
  }
  for (const p of all) {
    const rest = Object.entries(p).filter(([field, value]) => !explained.has(field) && hasNonFinite(value));
    if (rest.length) warnings.push(`${rest.map(([f]) => f).join(', ')} of ${p.name} is null (not a finite number).`);
  }
  return warnings;
}
