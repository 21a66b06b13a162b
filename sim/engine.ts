/**
 * The simulator: a population lives through simulated days while several policies decide its
 * notifications side by side, each in its own copy of the world.
 *
 * Fairness rests on common random numbers. Everything that does not depend on the policy (users and
 * their hidden truth, app sessions, arrivals, requests) is drawn once per seed and replayed into every
 * world. Everything that does (did the user open, click, opt out, and when) is drawn from
 * `rng.fork('outcome/<request id>')`, a key no policy influences. The same uniforms serve whichever arm a
 * policy picks (open when u < pOpen(arm)), so two policies that choose the same arm see the same
 * outcome, and a better arm turns a miss into an open, never the reverse: differences between policies
 * come from their choices alone, with far less noise than independent draws.
 *
 * Time runs in hourly ticks. Within a tick, world events and each world's own events (dispatches,
 * opens, clicks, opt-outs, rewards) are applied in time order; user features are updated by feeding
 * synthetic events to `applyEvent`, exactly as production ingest does. At the end of the tick each
 * learning policy learns from the rewards that arrived during it, then decides, in one batch, the
 * requests that arrived during it.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { checkSendAllowed, type DeliveryRequest, type RecentSends } from '#model/guardrails.ts';
import { Rng } from '#model/random.ts';
import { applyEvent, type DecayOptions, type StateEvent, type UserState } from '#model/user-state.ts';
import { auditSend, type BreachKind } from './guardrail-audit.ts';
import { TimedQueue } from './heap.ts';
import type { DecideInput, LearnRow, PolicySpec, SimPolicy, SimSendChoice, WorldView } from './policy-api.ts';
import type { Population } from './population.ts';
import { engagementReward, expectedReward, type OutcomeEvent, rewardOf, windowShares } from './reward.ts';
import { type SimRequest, Timeline, type WorldEvent } from './timeline.ts';
import {
  affinityTable,
  DAY_MS,
  drawArrivals,
  drawInitialUsers,
  drawSendOutcomes,
  HOUR_MS,
  responseProbabilities,
  simulationStartMs,
  type UserTruth,
  ZoneClock,
} from './truth.ts';
import { arrivalState, type WarmupLog, warmedUpState, warmupHistory } from './warmup.ts';

export const BREACH_KINDS: readonly (BreachKind | 'before_decision')[] = [
  'outside_window',
  'quiet_hours',
  'frequency_cap',
  'channel_not_allowed',
  'cannot_receive',
  'before_decision',
];

export interface SimulationOptions {
  population: Population;
  /** the world's config: guardrails every policy runs under, and the reward every policy is scored by */
  config: AnalystConfig;
  policies: readonly PolicySpec[];
  days: number;
  seeds: readonly number[];
  /** called after every simulated day of every seed */
  onProgress?: (progress: { seed: number; day: number; done: number; total: number }) => void;
  /** keep every decision with its outcome (tests; memory grows with requests) */
  trace?: boolean;
}

/** One decision followed to its end (kept when `trace` is on). */
export interface DecisionTrace {
  requestId: string;
  userId: string;
  /** the user's time zone */
  zone: string;
  kind: string;
  window: { notBeforeMs: number; notAfterMs: number };
  decidedAtMs: number;
  decision: 'send' | 'no_arm';
  channel?: ChannelName;
  armIndex?: number;
  sendAtMs?: number;
  propensity?: number;
  /** what happened at sendAtMs */
  dispatch?: 'sent' | 'stopped' | 'breach';
  stopReason?: string;
  /** every outcome event drawn for the send, with whether it fell inside the attribution window */
  events: { type: OutcomeEvent; atMs: number; attributed: boolean }[];
  /** when the reward was final and handed to the learner (last attributed event, or window end) */
  closedAtMs?: number;
  /** end of the tick in which the policy learned it */
  learnedAtMs?: number;
  /** reward by the world's config (what the report scores) */
  reward: number;
  /** expected reward of the send under the hidden truth, when it was sent */
  expectedReward?: number;
}

export interface PolicyTotals {
  requests: number;
  sends: number;
  noArm: number;
  /** requests without an allowed arm, by the reason that masked most of their arms */
  noArmReasons: Record<string, number>;
  stoppedAtDispatch: Record<string, number>;
  breaches: Record<string, number>;
  /** sum over requests of the reward by the world's config (0 for requests never sent) */
  reward: number;
  attributed: { opens: number; clicks: number; unsubscribes: number };
  /** opt-outs per channel, inside the attribution window or not */
  optOuts: Record<ChannelName, number>;
  sendsByChannel: Record<ChannelName, number>;
  /** sends per channel by the user's local hour at the send */
  sendsByLocalHour: Record<ChannelName, number[]>;
  rewardByDay: number[];
  requestsByDay: number[];
  learnedRows: number;
  explored: number;
  decideMs: number;
  learnMs: number;
}

export interface SeedRun {
  seed: number;
  users: number;
  policies: Record<string, PolicyTotals>;
  traces?: Record<string, DecisionTrace[]>;
}

export interface SimulationResult {
  population: string;
  configVersion: string;
  days: number;
  seeds: number[];
  policies: { name: string; learns: boolean; configVersion: string }[];
  runs: SeedRun[];
  wallMs: number;
}

function emptyTotals(days: number): PolicyTotals {
  const perChannel = <T>(f: () => T) => ({ email: f(), push: f(), sms: f() });
  return {
    requests: 0,
    sends: 0,
    noArm: 0,
    noArmReasons: {},
    stoppedAtDispatch: {},
    breaches: Object.fromEntries(BREACH_KINDS.map((b) => [b, 0])),
    reward: 0,
    attributed: { opens: 0, clicks: 0, unsubscribes: 0 },
    optOuts: perChannel(() => 0),
    sendsByChannel: perChannel(() => 0),
    sendsByLocalHour: perChannel(() => new Array(24).fill(0)),
    rewardByDay: new Array(days).fill(0),
    requestsByDay: new Array(days).fill(0),
    learnedRows: 0,
    explored: 0,
    decideMs: 0,
    learnMs: 0,
  };
}

interface Decision {
  request: SimRequest;
  user: UserTruth;
  choice: SimSendChoice;
  decidedAtMs: number;
  trace?: DecisionTrace;
}

type WorldItem =
  | { type: 'dispatch'; decision: Decision }
  | { type: 'outcome'; event: OutcomeEvent; decision: Decision }
  | { type: 'close'; decision: Decision; attributed: OutcomeEvent[] };

interface Sent {
  atMs: number;
  channel: ChannelName;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Everything one seed shares between its worlds. */
interface SharedWorld {
  population: Population;
  config: AnalystConfig;
  decay: DecayOptions;
  rng: Rng;
  clock: ZoneClock;
  users: UserTruth[];
  byId: Map<string, UserTruth>;
  affinity: ReturnType<typeof affinityTable>;
  windowShares: ReturnType<typeof windowShares>;
  startMs: number;
  days: number;
  trace: boolean;
}

/** One policy's copy of the world. */
class PolicyWorld {
  readonly totals: PolicyTotals;
  readonly traces: DecisionTrace[] = [];
  private readonly states = new Map<string, UserState>();
  private readonly sent = new Map<string, Sent[]>();
  private readonly scheduled = new Map<string, Map<Decision, Sent>>();
  private readonly queue = new TimedQueue<WorldItem>();
  private pending: SimRequest[] = [];
  private retry: SimRequest[] = [];
  private learnBuffer: LearnRow[] = [];
  private learnTraces: DecisionTrace[] = [];
  policy!: SimPolicy;
  /** the simulated instant of the current learn / decide call */
  nowMs = 0;
  private readonly policyConfig: AnalystConfig;
  private readonly keepMs: number;

  constructor(
    private readonly shared: SharedWorld,
    readonly spec: PolicySpec,
    initialStates: Map<string, UserState>,
  ) {
    this.totals = emptyTotals(shared.days);
    this.policyConfig = spec.config ?? shared.config;
    for (const [id, s] of initialStates) this.states.set(id, structuredClone(s));
    const caps = shared.config.guardrails.frequencyCaps;
    const capHours = Math.max(caps.global.perHours, ...Object.values(caps.perChannel).map((c) => c?.perHours ?? 0));
    // Past sends matter for caps and fatigue only; older ones are dropped to keep lookups short.
    this.keepMs = Math.max(capHours, shared.population.fatigue.windowHours) * HOUR_MS;
  }

  observedUsers(): Iterable<UserState> {
    return this.states.values();
  }

  view(): WorldView {
    return {
      truthOf: (userId) => {
        const t = this.shared.byId.get(userId);
        if (!t) throw new RangeError(`no simulated user ${userId}`);
        return t;
      },
      sendTimes: (userId) => [
        ...(this.sent.get(userId) ?? []).map((s) => s.atMs),
        ...[...(this.scheduled.get(userId)?.values() ?? [])].map((s) => s.atMs),
      ],
      clock: this.shared.clock,
    };
  }

  private apply(userId: string, event: StateEvent): void {
    const state = this.states.get(userId);
    if (state) applyEvent(state, event, this.shared.decay);
  }

  /** Applies every event before `untilMs`: world events from `events[from..]` and this world's own queue. */
  process(events: readonly WorldEvent[], from: number, untilMs: number): number {
    let i = from;
    for (;;) {
      const tWorld = i < events.length ? events[i].atMs : Number.POSITIVE_INFINITY;
      const tOwn = this.queue.peekTime();
      if (Math.min(tWorld, tOwn) >= untilMs) return i;
      if (tOwn <= tWorld) this.handle(this.queue.pop() as WorldItem, tOwn);
      else this.handleWorld(events[i++]);
    }
  }

  private handleWorld(e: WorldEvent): void {
    switch (e.type) {
      case 'arrival':
        this.states.set(e.user.userId, arrivalState(e.user, this.shared.decay));
        break;
      case 'session':
        this.apply(e.user.userId, { type: 'app_opened', occurredAt: iso(e.atMs) });
        break;
      case 'request':
        this.pending.push(e.request);
        break;
    }
  }

  private handle(item: WorldItem, atMs: number): void {
    switch (item.type) {
      case 'dispatch':
        this.dispatch(item.decision, atMs);
        break;
      case 'outcome': {
        const { channel } = item.decision.choice;
        this.apply(item.decision.user.userId, { type: item.event, occurredAt: iso(atMs), channel });
        if (item.event === 'unsubscribed') this.totals.optOuts[channel]++;
        break;
      }
      case 'close':
        this.close(item.decision, item.attributed, atMs);
        break;
    }
  }

  private recentSends(userId: string, except?: Decision): RecentSends {
    const out: Record<ChannelName, number[]> = { email: [], push: [], sms: [] };
    for (const s of this.sent.get(userId) ?? []) out[s.channel].push(s.atMs);
    for (const [d, s] of this.scheduled.get(userId) ?? []) if (d !== except) out[s.channel].push(s.atMs);
    return out;
  }

  private dispatch(decision: Decision, atMs: number): void {
    const { user, request, choice } = decision;
    const userId = user.userId;
    this.scheduled.get(userId)?.delete(decision);
    const state = this.states.get(userId) as UserState;
    const deliveryRequest = toDeliveryRequest(request);
    // Production dispatch re-checks: consents and caps may have changed since the decision. Not a breach.
    const check = checkSendAllowed(
      state,
      choice.channel,
      atMs,
      deliveryRequest,
      this.recentSends(userId, decision),
      this.shared.config,
    );
    if (!check.allowed) {
      this.totals.stoppedAtDispatch[check.reason] = (this.totals.stoppedAtDispatch[check.reason] ?? 0) + 1;
      if (decision.trace) Object.assign(decision.trace, { dispatch: 'stopped', stopReason: check.reason });
      return;
    }
    const past = this.sent.get(userId) ?? [];
    const breaches = this.audit(decision, atMs, past);
    if (breaches.length) {
      for (const b of breaches) this.totals.breaches[b]++;
      if (decision.trace) Object.assign(decision.trace, { dispatch: 'breach', stopReason: breaches.join(',') });
      return;
    }
    this.deliver(decision, atMs, past);
  }

  /** Sends that count against the caps of a new decision: made and still scheduled. */
  private capSends(userId: string): Sent[] {
    return [...(this.sent.get(userId) ?? []), ...(this.scheduled.get(userId)?.values() ?? [])];
  }

  private audit(decision: Decision, atMs: number, others: readonly Sent[]): (BreachKind | 'before_decision')[] {
    const { request, choice, user } = decision;
    return auditSend(this.shared.config, this.shared.clock, this.states.get(user.userId) as UserState, others, {
      channel: choice.channel,
      sendAtMs: atMs,
      window: request.window,
      allowedChannels: request.allowedChannels,
      kind: request.kind,
      ignoreQuietHours: request.ignoreQuietHours,
    });
  }

  private deliver(decision: Decision, atMs: number, past: Sent[]): void {
    const { user, request, choice } = decision;
    const { population, config, clock } = this.shared;
    const channel = choice.channel;
    const fatigueFrom = atMs - population.fatigue.windowHours * HOUR_MS;
    const recent = past.filter((s) => s.atMs > fatigueFrom).length;
    const hourOfWeek = clock.hourOfWeek(user.zone, atMs);
    const p = responseProbabilities(population, this.shared.affinity, user, {
      channel,
      kind: request.kind,
      hourOfWeek,
      recentSends: recent,
    });
    this.apply(user.userId, { type: 'notification_delivered', occurredAt: iso(atMs), channel });
    const keep = past.filter((s) => s.atMs > atMs - this.keepMs);
    keep.push({ atMs, channel });
    this.sent.set(user.userId, keep);
    this.totals.sends++;
    this.totals.sendsByChannel[channel]++;
    this.totals.sendsByLocalHour[channel][hourOfWeek % 24]++;
    if (decision.trace) {
      decision.trace.dispatch = 'sent';
      decision.trace.expectedReward = expectedReward(p, this.shared.windowShares[channel], channel, config);
    }

    // Common random numbers: the draws depend on the request only, never on the policy or the arm.
    const windowEnd = atMs + config.reward.attributionWindowHours * HOUR_MS;
    const drawn = drawSendOutcomes(
      population.channels[channel],
      p,
      atMs,
      this.shared.rng.fork(`outcome/${request.id}`),
    );
    const attributed: OutcomeEvent[] = [];
    let lastAttributed = 0;
    for (const e of drawn) {
      // Engagement after the window still happens (and updates the features); it just earns no reward.
      this.queue.push(e.atMs, { type: 'outcome', event: e.type, decision });
      const inWindow = e.atMs <= windowEnd;
      if (inWindow) {
        attributed.push(e.type);
        lastAttributed = Math.max(lastAttributed, e.atMs);
      }
      decision.trace?.events.push({ ...e, attributed: inWindow });
    }
    // The reward is final once its last attributed event has happened; with none, at the window's end.
    this.queue.push(attributed.length ? lastAttributed : windowEnd, { type: 'close', decision, attributed });
  }

  private close(decision: Decision, attributed: OutcomeEvent[], atMs: number): void {
    const { request, choice } = decision;
    const scored = rewardOf(attributed, choice.channel, this.shared.config);
    this.totals.reward += scored;
    this.totals.rewardByDay[request.day] += scored;
    this.totals.attributed.opens += attributed.includes('notification_opened') ? 1 : 0;
    this.totals.attributed.clicks += attributed.includes('notification_clicked') ? 1 : 0;
    this.totals.attributed.unsubscribes += attributed.includes('unsubscribed') ? 1 : 0;
    if (decision.trace) Object.assign(decision.trace, { closedAtMs: atMs, reward: scored });
    if (this.spec.learns) {
      // The learner gets the engagement reward by its own config's weights; it subtracts the channel cost itself.
      this.learnBuffer.push({ features: choice.features, reward: engagementReward(attributed, this.policyConfig) });
      if (decision.trace) this.learnTraces.push(decision.trace);
    }
  }

  /** End of a tick: learn what arrived, then decide what is waiting. */
  async endTick(nowMs: number, deciding: boolean): Promise<void> {
    this.nowMs = nowMs;
    if (this.learnBuffer.length && this.policy.learn && deciding) {
      const rows = this.learnBuffer;
      this.learnBuffer = [];
      const started = performance.now();
      await this.policy.learn(rows);
      this.totals.learnMs += performance.now() - started;
      this.totals.learnedRows += rows.length;
      for (const t of this.learnTraces) t.learnedAtMs = nowMs;
      this.learnTraces = [];
    }
    if (!deciding) {
      // The simulation is over: a request still deferred will never be decided.
      for (const request of this.retry) {
        this.countRequest(request);
        this.totals.noArm++;
        this.totals.noArmReasons.deferred_past_end = (this.totals.noArmReasons.deferred_past_end ?? 0) + 1;
      }
      this.retry = [];
      return;
    }
    const waiting = [...this.retry, ...this.pending];
    this.pending = [];
    this.retry = [];
    // A user with two requests in one tick is decided in two rounds, so the second decision sees the
    // first one's scheduled send in recentSends (a batch shares one view of each user).
    const rounds: SimRequest[][] = [];
    const seen = new Map<number, number>();
    for (const request of waiting) {
      const round = seen.get(request.userIndex) ?? 0;
      seen.set(request.userIndex, round + 1);
      if (!rounds[round]) rounds[round] = [];
      rounds[round].push(request);
    }
    for (const batch of rounds) await this.decideBatch(batch, nowMs);
  }

  private async decideBatch(batch: SimRequest[], nowMs: number): Promise<void> {
    const inputs: DecideInput[] = batch.map((request) => ({
      user: this.states.get(`user-${request.userIndex}`) as UserState,
      request: toDeliveryRequest(request),
      nowMs,
      recentSends: this.recentSends(`user-${request.userIndex}`),
    }));
    const started = performance.now();
    const decisions = await this.policy.decide(inputs);
    this.totals.decideMs += performance.now() - started;
    if (decisions.length !== batch.length) {
      throw new RangeError(
        `policy ${this.spec.name} returned ${decisions.length} decisions for ${batch.length} inputs`,
      );
    }
    const horizonEnd = nowMs + this.shared.config.slots.horizonDays * DAY_MS;
    batch.forEach((request, i) => {
      const d = decisions[i];
      const user = this.shared.users[request.userIndex];
      if (d.kind === 'no_arm') {
        // Deferring helps only when the window reaches past the horizon: later decisions see more slots.
        if (this.shared.config.guardrails.whenNoArm !== 'drop' && request.window.notAfterMs > horizonEnd) {
          this.retry.push(request);
          return;
        }
        this.countRequest(request);
        this.totals.noArm++;
        const cause = mainCause(d.reasons);
        this.totals.noArmReasons[cause] = (this.totals.noArmReasons[cause] ?? 0) + 1;
        if (this.shared.trace) this.traces.push(newTrace(request, user, nowMs, 'no_arm'));
        return;
      }
      this.countRequest(request);
      if (d.explored) this.totals.explored++;
      const decision: Decision = { request, user, choice: d, decidedAtMs: nowMs };
      if (this.shared.trace) {
        decision.trace = {
          ...newTrace(request, user, nowMs, 'send'),
          channel: d.channel,
          armIndex: d.armIndex,
          sendAtMs: d.sendAtMs,
          propensity: d.propensity,
        };
        this.traces.push(decision.trace);
      }
      // The decision itself must respect the guardrails as they stand now; dispatch re-checks later only
      // because things change in between (an opt-out, another send), not to catch a policy's mistakes.
      const breaches = this.audit(decision, d.sendAtMs, this.capSends(user.userId));
      if (!(d.sendAtMs >= nowMs)) breaches.push('before_decision');
      if (breaches.length) {
        for (const b of breaches) this.totals.breaches[b]++;
        if (decision.trace) Object.assign(decision.trace, { dispatch: 'breach', stopReason: breaches.join(',') });
        return;
      }
      let mine = this.scheduled.get(user.userId);
      if (!mine) {
        mine = new Map();
        this.scheduled.set(user.userId, mine);
      }
      mine.set(decision, { atMs: d.sendAtMs, channel: d.channel });
      this.queue.push(d.sendAtMs, { type: 'dispatch', decision });
    });
  }

  private countRequest(request: SimRequest): void {
    this.totals.requests++;
    this.totals.requestsByDay[request.day]++;
  }

  get idle(): boolean {
    return this.queue.size === 0 && this.pending.length === 0 && this.retry.length === 0;
  }
}

const TIME_CAUSES = [
  'frequency_cap_global',
  'frequency_cap_channel',
  'quiet_hours',
  'beyond_horizon',
  'outside_window',
];

/**
 * Why a request had no arm, in one word for an analyst: a time-related reason when some channel was
 * usable (a cap, then quiet hours, then the window; a short window at night reads "quiet_hours", not the
 * many slots outside it), else the channel reason that masked most arms.
 */
function mainCause(reasons: Partial<Record<string, number>>): string {
  for (const cause of TIME_CAUSES) if ((reasons[cause] ?? 0) > 0) return cause;
  let best = 'unknown';
  let most = 0;
  for (const [reason, n] of Object.entries(reasons)) {
    if ((n ?? 0) > most) {
      best = reason;
      most = n ?? 0;
    }
  }
  return best;
}

function newTrace(request: SimRequest, user: UserTruth, nowMs: number, decision: 'send' | 'no_arm'): DecisionTrace {
  return {
    requestId: request.id,
    userId: user.userId,
    zone: user.zone,
    kind: request.kind,
    window: request.window,
    decidedAtMs: nowMs,
    decision,
    events: [],
    reward: 0,
  };
}

function toDeliveryRequest(request: SimRequest): DeliveryRequest {
  return {
    kind: request.kind,
    allowedChannels: request.allowedChannels,
    window: request.window,
    ...(request.ignoreQuietHours ? { ignoreQuietHours: true } : {}),
  };
}

/**
 * Runs the simulation: for each seed, every policy on its own copy of the same world.
 * @example
 *   const result = await simulate({ population, config, policies: [heuristicSpec, oracleSpec], days: 28, seeds: [1, 2, 3] });
 *   summarize(result).policies.heuristic.meanReward // { mean, low, high, n }
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const started = performance.now();
  const { population, config, policies, days, seeds } = options;
  const names = policies.map((p) => p.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new RangeError(`policy name "${dup}" is used twice`);
  const runs: SeedRun[] = [];
  let done = 0;
  for (const seed of seeds) {
    runs.push(
      await simulateSeed(options, seed, (day) => {
        done++;
        options.onProgress?.({ seed, day, done, total: seeds.length * days });
      }),
    );
  }
  return {
    population: population.name,
    configVersion: config.version,
    days,
    seeds: [...seeds],
    policies: policies.map((p) => ({ name: p.name, learns: p.learns, configVersion: (p.config ?? config).version })),
    runs,
    wallMs: performance.now() - started,
  };
}

async function simulateSeed(
  options: SimulationOptions,
  seed: number,
  dayDone: (day: number) => void,
): Promise<SeedRun> {
  const { population, config, days } = options;
  const rng = new Rng(seed);
  const clock = new ZoneClock();
  const users = drawInitialUsers(population, rng);
  const shared: SharedWorld = {
    population,
    config,
    decay: { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone },
    rng,
    clock,
    users,
    byId: new Map(users.map((u) => [u.userId, u])),
    affinity: affinityTable(population),
    windowShares: windowShares(population, config),
    startMs: simulationStartMs(population),
    days,
    trace: options.trace ?? false,
  };
  const timeline = new Timeline(population, rng, clock);

  // History before day 0 is the same for every policy: build it once, then copy it into each world.
  const warmup = { population, decay: shared.decay, rng, clock, affinity: shared.affinity, timeline };
  const initial = new Map<string, UserState>();
  const logs = new Map<UserTruth, WarmupLog>();
  for (const user of users) {
    const log: WarmupLog = { sessions: [], sends: [] };
    initial.set(user.userId, warmedUpState(user, warmup, log));
    if (log.sends.length) logs.set(user, log);
  }
  const history = warmupHistory(logs, shared.startMs);

  const worlds = options.policies.map((spec) => new PolicyWorld(shared, spec, initial));
  try {
    for (const world of worlds) {
      world.policy = await world.spec.create({
        seed,
        config: world.spec.config ?? config,
        world: world.view(),
        observedUsers: () => world.observedUsers(),
        warmupHistory: () => history,
        now: () => world.nowMs,
      });
    }
    for (let day = 0; day < days; day++) {
      const newcomers = drawArrivals(population, rng, day, users.length);
      for (const u of newcomers) {
        users.push(u);
        shared.byId.set(u.userId, u);
      }
      const events = timeline.day(day, users, newcomers);
      const cursors = worlds.map(() => 0);
      const dayStart = shared.startMs + day * DAY_MS;
      for (let h = 1; h <= 24; h++) {
        const tickEnd = dayStart + h * HOUR_MS;
        for (let w = 0; w < worlds.length; w++) {
          cursors[w] = worlds[w].process(events, cursors[w], tickEnd);
          await worlds[w].endTick(tickEnd, true);
        }
      }
      dayDone(day);
    }
    // Let every decision already taken play out (sends, engagement, rewards) with no new requests.
    let t = shared.startMs + days * DAY_MS;
    while (worlds.some((w) => !w.idle)) {
      t += HOUR_MS;
      for (const world of worlds) {
        world.process([], 0, t);
        await world.endTick(t, false);
      }
    }
  } finally {
    for (const world of worlds) world.policy?.dispose?.();
  }
  const run: SeedRun = {
    seed,
    users: users.length,
    policies: Object.fromEntries(worlds.map((w) => [w.spec.name, w.totals])),
  };
  if (options.trace) run.traces = Object.fromEntries(worlds.map((w) => [w.spec.name, w.traces]));
  return run;
}
