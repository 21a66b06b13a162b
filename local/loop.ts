/**
 * The whole serving loop on the local stack, under a clock the caller moves: ingest (with reward
 * attribution), decide, the sweeper, dispatch (real SES emulator for email, the topic-backed sink for push
 * and SMS) and the learner, each driven from its SQS queue by a poller the way Lambda's event source
 * drives it. The demo, the end-to-end test and the `endToEnd` benchmark share it.
 *
 * The clock: every function gets `now` from the SimulatedClock, so days pass in seconds. The sweeper runs
 * when the caller says (`sweep()`), without lookahead, so a send leaves at the first sweep at or after its
 * instant and SQS delays (real seconds) play no part.
 *
 * Every DynamoDB request the functions make is counted (`counts`), for the cost per notification.
 */
import type { SQSEvent } from 'aws-lambda';
import type { AnalystConfig } from '#config/schema.ts';
import type { IngestEvent, NotificationRequest } from '#events/index.ts';
import { type DecideOutcome, decideBatch } from '#lambdas/decide/decide.ts';
import { HeadModelCache } from '#lambdas/decide/head-model-cache.ts';
import { type DispatchOutcomeKind, dispatchBatch } from '#lambdas/dispatch/dispatch.ts';
import {
  type ChannelProvider,
  type DispatchProviders,
  type ProviderAcceptance,
  type ProviderSend,
  SesEmailProvider,
  TopicBackedPushSmsSinkForLocalStack,
} from '#lambdas/dispatch/providers.ts';
import { ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { learnRewards } from '#lambdas/learner/learner.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { type SweepOutcome, sweep } from '#lambdas/sweeper/sweeper.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { sendBodies } from '#test/helpers/local-queues.ts';
import { createQueuePoller, drainAll, type SqsEventSourcePoller } from './poller.ts';
import { createSinkTopic } from './sink.ts';
import type { LocalStack } from './stack.ts';

/** What the functions read the time from. */
export interface Clock {
  now(): number;
}

/** A clock the caller moves. */
export class SimulatedClock implements Clock {
  constructor(private t: number) {}
  readonly now = (): number => this.t;
  set(t: number): void {
    if (t < this.t) throw new RangeError('the simulated clock never goes back');
    this.t = t;
  }
  advance(ms: number): void {
    this.set(this.t + ms);
  }
}

/** DynamoDB requests by kind (items for batch reads and writes, pages for queries). */
export interface DynamoCounts {
  reads: number;
  writes: number;
  byCommand: Record<string, number>;
}

/**
 * Wraps a document client so that every request it sends is counted.
 * @example const { doc, counts } = countingDocClient(stack.clients.doc);
 */
export function countingDocClient<T extends { send: (...args: never[]) => unknown }>(
  doc: T,
): { doc: T; counts: DynamoCounts } {
  const counts: DynamoCounts = { reads: 0, writes: 0, byCommand: {} };
  const count = (command: { constructor: { name: string }; input?: Record<string, unknown> }) => {
    const name = command.constructor.name;
    const input = command.input ?? {};
    let reads = 0;
    let writes = 0;
    switch (name) {
      case 'GetCommand':
      case 'QueryCommand':
      case 'ScanCommand':
        reads = 1;
        break;
      case 'BatchGetCommand':
        for (const t of Object.values((input.RequestItems ?? {}) as Record<string, { Keys?: unknown[] }>))
          reads += t.Keys?.length ?? 0;
        break;
      case 'PutCommand':
      case 'UpdateCommand':
      case 'DeleteCommand':
        writes = 1;
        break;
      case 'BatchWriteCommand':
        for (const t of Object.values((input.RequestItems ?? {}) as Record<string, unknown[]>)) writes += t.length;
        break;
      case 'TransactWriteCommand':
        writes = ((input.TransactItems ?? []) as unknown[]).length;
        break;
    }
    counts.reads += reads;
    counts.writes += writes;
    counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
  };
  const proxy = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop === 'send') {
        return (command: never, ...rest: never[]) => {
          count(command);
          return (target.send as (...a: never[]) => unknown).call(target, command, ...rest);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return { doc: proxy, counts };
}

/** One message a provider accepted. */
export interface Delivery {
  decisionId: string;
  channel: ProviderSend['channel'];
  kind: string;
  /** simulated instant of the provider call */
  atMs: number;
  providerMessageId: string;
}

/** Totals of what the functions did. */
export interface LoopStats {
  requestsDecided: number;
  decisionsByStatus: Record<string, number>;
  duplicateRequests: number;
  dispatch: Partial<Record<DispatchOutcomeKind, number>>;
  eventsApplied: number;
  rewardsCounted: number;
  rewardsApplied: number;
  rewardDuplicatesSkipped: number;
  modelVersion: number;
  sweeps: number;
  rewardsClosed: number;
  sweepLatenessMs: number[];
  refused: Record<string, number>;
}

export interface LocalLoopOptions {
  stack: LocalStack;
  config: AnalystConfig;
  /** a SimulatedClock for accelerated days, or `{ now: Date.now }` for real time */
  clock: Clock;
  /**
   * the sweeper's lookahead; default 0 (under a simulated clock SQS delays would be real seconds). With a
   * real clock, the production lookahead (lambdas/sweeper DEFAULT_LOOKAHEAD_MS) delays each send to its instant.
   */
  sweeperLookaheadMs?: number;
  /** log level of the functions' loggers; default 'ERROR' (the demo's terminal stays readable) */
  logLevel?: string;
  /** called with the decide outcome of every batch (the demo shows progress with it) */
  onDecided?: (outcome: DecideOutcome) => void;
  /** sender address of the local SES; default 'notifications@sto.example' */
  fromEmailAddress?: string;
}

export interface LocalLoop {
  readonly clock: Clock;
  readonly config: AnalystConfig;
  readonly counts: DynamoCounts;
  readonly stats: LoopStats;
  /** every message a provider accepted so far, in order */
  readonly deliveries: readonly Delivery[];
  /** producers: requests and events onto their queues */
  sendRequests(requests: readonly NotificationRequest[]): Promise<void>;
  sendEvents(events: readonly IngestEvent[]): Promise<void>;
  /** one run of the sweeper at the clock's instant */
  sweep(): Promise<SweepOutcome>;
  /** waits until every queue is empty and every handler idle */
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Records each accepted provider call, with the simulated instant. */
class RecordingProvider<T extends ProviderSend> implements ChannelProvider<T> {
  constructor(
    private readonly inner: ChannelProvider<T>,
    private readonly clock: Clock,
    private readonly record: (d: Delivery) => void,
  ) {}

  async send(message: T): Promise<ProviderAcceptance> {
    const accepted = await this.inner.send(message);
    this.record({
      decisionId: message.decisionId,
      channel: message.channel,
      kind: message.kind,
      atMs: this.clock.now(),
      providerMessageId: accepted.providerMessageId,
    });
    return accepted;
  }
}

const add = (into: Record<string, number>, key: string, n = 1) => {
  into[key] = (into[key] ?? 0) + n;
};

/**
 * Starts the pollers of the four queues around the real function code.
 * @example
 *   const loop = await startLocalLoop({ stack, config, clock: new SimulatedClock(start) });
 *   await loop.sendRequests([request]); await loop.settle(); clock.advance(HOUR); await loop.sweep(); await loop.settle();
 */
export async function startLocalLoop(options: LocalLoopOptions): Promise<LocalLoop> {
  const { stack, config } = options;
  const clock = options.clock;
  const now = () => clock.now();
  await initTensorBackend();
  const { doc, counts } = countingDocClient(stack.clients.doc);
  const level = options.logLevel ?? 'ERROR';
  const logger = (name: string) => createLogger(name, { logLevel: level });
  const stats: LoopStats = {
    requestsDecided: 0,
    decisionsByStatus: {},
    duplicateRequests: 0,
    dispatch: {},
    eventsApplied: 0,
    rewardsCounted: 0,
    rewardsApplied: 0,
    rewardDuplicatesSkipped: 0,
    modelVersion: 0,
    sweeps: 0,
    rewardsClosed: 0,
    sweepLatenessMs: [],
    refused: {},
  };
  const deliveries: Delivery[] = [];
  const record = (d: Delivery) => deliveries.push(d);

  const sink = await createSinkTopic(stack, `sink-${Math.random().toString(36).slice(2, 8)}`);
  const email = new SesEmailProvider(stack.clients.sesv2, {
    fromEmailAddress: options.fromEmailAddress ?? 'notifications@sto.example',
  });
  const topic = new TopicBackedPushSmsSinkForLocalStack(stack.clients.sns, sink.topicArn);
  const providers: DispatchProviders = {
    email: new RecordingProvider(email, clock, record),
    push: new RecordingProvider(topic, clock, record),
    sms: new RecordingProvider(topic, clock, record),
  };

  const store = modelTableStore(doc, stack.tableNames.model);
  const decideLogger = logger('decide');
  const models = new HeadModelCache({ readHead: () => store.readHead(), now, logger: decideLogger });
  const ingestLogger = logger('ingest');
  const dispatchLogger = logger('dispatch');
  const learnerLogger = logger('learner');
  const sweeperLogger = logger('sweeper');
  const records = (event: SQSEvent) => event.Records.map((r) => ({ messageId: r.messageId, body: r.body }));
  const failures = (list: { messageId: string; reason: string }[]) => {
    for (const f of list) add(stats.refused, f.reason);
    return { batchItemFailures: list.map((f) => ({ itemIdentifier: f.messageId })) };
  };

  const pollerOptions = { visibilityTimeoutSeconds: 1, maxBatchingWindowMs: 20, maxIdleSleepMs: 20 };
  const pollers: SqsEventSourcePoller[] = [
    createQueuePoller(
      stack,
      'events',
      async (event) => {
        const outcome = await ingestBatch(records(event), {
          doc,
          usersTable: stack.tableNames.users,
          features: { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone },
          now,
          logger: ingestLogger,
          attribution: { decisionsTable: stack.tableNames.decisions, reward: config.reward },
        });
        stats.eventsApplied += outcome.applied;
        stats.rewardsCounted += outcome.attribution?.counted ?? 0;
        return failures(outcome.failures);
      },
      pollerOptions,
    ),
    createQueuePoller(
      stack,
      'requests',
      async (event) => {
        const outcome = await decideBatch(records(event), {
          doc,
          usersTable: stack.tableNames.users,
          decisionsTable: stack.tableNames.decisions,
          models,
          config,
          now,
          logger: decideLogger,
        });
        for (const d of outcome.decided) {
          if (d.duplicate) stats.duplicateRequests++;
          else {
            stats.requestsDecided++;
            add(stats.decisionsByStatus, d.status);
          }
        }
        options.onDecided?.(outcome);
        return failures(outcome.failures);
      },
      pollerOptions,
    ),
    createQueuePoller(
      stack,
      'dispatch',
      async (event) => {
        const outcome = await dispatchBatch(records(event), {
          doc,
          decisionsTable: stack.tableNames.decisions,
          usersTable: stack.tableNames.users,
          providers,
          config,
          now,
          logger: dispatchLogger,
          sleep: async () => {},
        });
        for (const [k, n] of Object.entries(outcome.counts)) add(stats.dispatch, k, n);
        return failures(
          outcome.records.filter((r) => r.retry).map((r) => ({ messageId: r.messageId, reason: r.result.outcome })),
        );
      },
      pollerOptions,
    ),
    createQueuePoller(
      stack,
      'rewards',
      async (event) => {
        const outcome = await learnRewards(records(event), {
          store,
          config,
          now,
          logger: learnerLogger,
        });
        stats.rewardsApplied += outcome.applied;
        stats.rewardDuplicatesSkipped += outcome.duplicates;
        if (outcome.version !== undefined) stats.modelVersion = Math.max(stats.modelVersion, outcome.version);
        return failures(outcome.failures);
      },
      { ...pollerOptions, maxBatchingWindowMs: 50 },
    ),
  ];
  for (const p of pollers) p.start();

  return {
    clock,
    config,
    counts,
    stats,
    deliveries,
    async sendRequests(requests) {
      if (requests.length)
        await sendBodies(
          stack.clients.sqs,
          stack.queueUrls.requests,
          requests.map((r) => JSON.stringify(r)),
        );
    },
    async sendEvents(events) {
      if (events.length)
        await sendBodies(
          stack.clients.sqs,
          stack.queueUrls.events,
          events.map((e) => JSON.stringify(e)),
        );
    },
    async sweep() {
      const outcome = await sweep({
        doc,
        sqs: stack.clients.sqs,
        decisionsTable: stack.tableNames.decisions,
        dispatchQueueUrl: stack.queueUrls.dispatch,
        requestsQueueUrl: stack.queueUrls.requests,
        rewardsQueueUrl: stack.queueUrls.rewards,
        config,
        now,
        logger: sweeperLogger,
        lookaheadMs: options.sweeperLookaheadMs ?? 0,
      });
      stats.sweeps++;
      stats.rewardsClosed += outcome.close?.closed ?? 0;
      stats.sweepLatenessMs.push(...outcome.latenessMs);
      return outcome;
    },
    async settle(timeoutMs = 120_000) {
      await drainAll(pollers, { timeoutMs });
    },
    async stop() {
      await Promise.all(pollers.map((p) => p.stop()));
    },
  };
}
