/**
 * Fault injection for tests that drive the serving loop's plain modules: an invocation whose AWS clients
 * (and providers) can die at their k-th call, as a Lambda killed mid-flight, or answer one call with a
 * transient AWS error; and in-memory SQS queues that capture what the code under test sends, so a test
 * decides when, in what order and how often each message is delivered (SQS is at-least-once).
 *
 * A crash is modelled as death, not as an exception: from the crash on, every call the invocation makes
 * hangs forever and its body's promise never settles, so no `catch` in the code under test can run a
 * write it would never have run in a killed Lambda. Calls already in flight still reach the service (a
 * request on the wire lands), and `execute` waits for them before it reports the crash.
 * @example
 *   const run = await execute({ crash: { atCall: 3, when: 'after' } }, (inv) => dispatchBatch(records, {
 *     ...deps, doc: faultyDoc(inv, stack.clients.doc) }));
 *   if (run.kind !== 'returned') { ... } // nothing of the batch is acknowledged: SQS redelivers it
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchResultEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type CallService = 'dynamodb' | 'sqs' | 'provider';

/** Where a fault hits: the invocation's n-th client call (1-based, counting DynamoDB, SQS and provider calls). */
export interface CallFault {
  atCall: number;
  /** before the call reaches the service, or after the service served it (its answer never arrives) */
  when: 'before' | 'after';
}

export interface FaultPlan {
  /** the invocation dies at this call */
  crash?: CallFault;
  /**
   * this DynamoDB or SQS call fails with a transient AWS error and the invocation goes on: `before` =
   * throttled, never served; `after` = served, but the caller sees a timeout (ignored for provider calls,
   * whose faults the provider fakes itself)
   */
  transient?: CallFault;
  /** the first SendMessageBatch answers its first entry as Failed (not enqueued) */
  sqsRefusesFirstEntry?: boolean;
}

/** Marks the errors this module throws, so a test can tell an injected failure from a bug. */
export const INJECTED = Symbol('injected fault');

function injected<E extends Error>(error: E): E {
  return Object.assign(error, { [INJECTED]: true });
}

export function isInjected(error: unknown): boolean {
  return typeof error === 'object' && error !== null && INJECTED in error;
}

function transientError(service: CallService, when: 'before' | 'after'): Error {
  if (when === 'after') {
    return injected(Object.assign(new Error('socket timed out after the request was sent'), { name: 'TimeoutError' }));
  }
  if (service === 'dynamodb') {
    return injected(
      new ProvisionedThroughputExceededException({
        message: 'The level of configured provisioned throughput for the table was exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
  }
  return injected(
    Object.assign(new Error('We encountered an internal error. Please try again.'), {
      name: 'InternalError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
    }),
  );
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** One Lambda invocation's view of its clients, with the faults of its plan. */
export class Invocation {
  /** client calls made (or attempted) so far */
  calls = 0;
  /** the plan's crash or transient error happened */
  faultFired = false;
  dead = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private onDeath: () => void = () => {};
  readonly died: Promise<void>;
  private sqsRefusalUsed = false;

  constructor(readonly plan: FaultPlan = {}) {
    this.died = new Promise<void>((resolve) => {
      this.onDeath = resolve;
    });
  }

  /**
   * Makes one client call under the plan: `serve` performs it. Returns what `serve` answers, throws what it
   * throws (or an injected transient error), or never settles once the invocation is dead.
   */
  async call<T>(service: CallService, serve: () => Promise<T>): Promise<T> {
    if (this.dead) return never();
    const n = ++this.calls;
    const { crash, transient } = this.plan;
    const transientHere = transient?.atCall === n && service !== 'provider';
    if (crash?.atCall === n && crash.when === 'before') return this.die();
    if (transientHere && transient.when === 'before') {
      this.faultFired = true;
      throw transientError(service, 'before');
    }
    const pending = serve();
    this.inflight.add(pending);
    let value: T;
    try {
      value = await pending;
    } catch (error) {
      if (this.dead) return never();
      if (crash?.atCall === n) return this.die();
      throw error;
    } finally {
      this.inflight.delete(pending);
    }
    if (this.dead) return never();
    if (crash?.atCall === n) return this.die();
    if (transientHere) {
      this.faultFired = true;
      throw transientError(service, 'after');
    }
    return value;
  }

  /** Whether this SendMessageBatch should refuse its first entry (once per invocation). */
  takeSqsRefusal(): boolean {
    if (!this.plan.sqsRefusesFirstEntry || this.sqsRefusalUsed) return false;
    this.sqsRefusalUsed = true;
    this.faultFired = true;
    return true;
  }

  private die<T>(): Promise<T> {
    this.dead = true;
    this.faultFired = true;
    this.onDeath();
    return never();
  }

  /** Waits until the calls that were on the wire when the invocation died have reached the service. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}

export type Execution<T> =
  | { kind: 'returned'; value: T; invocation: Invocation }
  /** the invocation died: nothing it did after the crash happened, and it acknowledged nothing */
  | { kind: 'crashed'; invocation: Invocation }
  /** the body threw after an injected fault (the whole batch goes back to SQS) */
  | { kind: 'threw'; error: unknown; invocation: Invocation };

/**
 * Runs one invocation under a fault plan. An error thrown without any fault having fired is rethrown:
 * it is a bug, not a simulated failure.
 */
export async function execute<T>(plan: FaultPlan, body: (invocation: Invocation) => Promise<T>): Promise<Execution<T>> {
  const invocation = new Invocation(plan);
  const result = await Promise.race([
    body(invocation).then(
      (value) => ({ kind: 'returned', value, invocation }) as const,
      (error: unknown) => ({ kind: 'threw', error, invocation }) as const,
    ),
    invocation.died.then(() => ({ kind: 'crashed', invocation }) as const),
  ]);
  if (result.kind === 'crashed') await invocation.settle();
  if (result.kind === 'threw' && !invocation.faultFired && !isInjected(result.error)) throw result.error;
  return result;
}

/** The document client as the invocation sees it. */
export function faultyDoc(invocation: Invocation, base: DynamoDBDocumentClient): DynamoDBDocumentClient {
  return {
    send: (command: unknown) => invocation.call('dynamodb', () => base.send(command as never)),
  } as unknown as DynamoDBDocumentClient;
}

/** A message in an in-memory queue. */
export interface QueuedMessage {
  messageId: string;
  body: string;
  /** epoch ms from which a receive can return it */
  visibleAt: number;
  receives: number;
}

/**
 * An SQS queue in memory, on the test's clock: SendMessage delays, visibility timeouts after a receive,
 * deletion on acknowledgement, and the at-least-once extras (the same message handed out twice, a
 * deleted message coming back).
 */
export class MemoryQueue {
  readonly pending: QueuedMessage[] = [];
  readonly acknowledged: QueuedMessage[] = [];
  /** every body the queue accepted, in order (what the producers sent, duplicates included) */
  readonly accepted: string[] = [];
  private sequence = 0;

  constructor(
    readonly name: string,
    readonly visibilityTimeoutMs: number,
    private readonly now: () => number,
  ) {}

  send(body: string, delayMs = 0): QueuedMessage {
    const message = {
      messageId: `${this.name}-${++this.sequence}`,
      body,
      visibleAt: this.now() + delayMs,
      receives: 0,
    };
    this.pending.push(message);
    this.accepted.push(body);
    return message;
  }

  visible(): QueuedMessage[] {
    const now = this.now();
    return this.pending.filter((m) => m.visibleAt <= now);
  }

  /** Hides the messages for the visibility timeout, as a receive does. */
  receive(messages: readonly QueuedMessage[]): void {
    const until = this.now() + this.visibilityTimeoutMs;
    for (const m of messages) {
      m.visibleAt = until;
      m.receives++;
    }
  }

  /** Deletes a message (a no-op when a copy of it was acknowledged already). */
  acknowledge(messageId: string): void {
    const i = this.pending.findIndex((m) => m.messageId === messageId);
    if (i < 0) return;
    const [message] = this.pending.splice(i, 1);
    this.acknowledged.push(message);
  }

  /** A deleted message delivered again (SQS's at-least-once, rare but allowed): visible at once. */
  resurrect(index: number): QueuedMessage | undefined {
    if (this.acknowledged.length === 0) return undefined;
    const [message] = this.acknowledged.splice(index % this.acknowledged.length, 1);
    message.visibleAt = this.now();
    this.pending.push(message);
    return message;
  }

  /** The instant the next hidden message becomes visible, if any. */
  nextVisibleAt(): number | undefined {
    const now = this.now();
    const later = this.pending.map((m) => m.visibleAt).filter((t) => t > now);
    return later.length > 0 ? Math.min(...later) : undefined;
  }
}

/**
 * An SQSClient that answers SendMessageBatch by putting the entries into in-memory queues (by QueueUrl),
 * under the invocation's faults. Any other command is refused: the loop's senders use only this one.
 * @example const sqs = memorySqs(invocation, { 'mem://dispatch': dispatchQueue });
 */
export function memorySqs(invocation: Invocation, queues: Readonly<Record<string, MemoryQueue>>): SQSClient {
  return {
    send: (command: unknown) =>
      invocation.call('sqs', async () => {
        if (!(command instanceof SendMessageBatchCommand)) {
          throw new Error(`memorySqs handles SendMessageBatch only, not ${(command as object).constructor.name}`);
        }
        const { QueueUrl, Entries = [] } = command.input;
        const queue = QueueUrl === undefined ? undefined : queues[QueueUrl];
        if (!queue) throw new Error(`no in-memory queue for ${QueueUrl}`);
        const refuseFirst = invocation.takeSqsRefusal();
        const Successful: SendMessageBatchResultEntry[] = [];
        const Failed: BatchResultErrorEntry[] = [];
        Entries.forEach((entry, i) => {
          if (refuseFirst && i === 0) {
            Failed.push({ Id: entry.Id, Code: 'InternalError', SenderFault: false, Message: 'injected' });
            return;
          }
          const message = queue.send(entry.MessageBody ?? '', (entry.DelaySeconds ?? 0) * 1000);
          Successful.push({ Id: entry.Id, MessageId: message.messageId, MD5OfMessageBody: '' });
        });
        return { Successful, Failed, $metadata: {} };
      }),
  } as unknown as SQSClient;
}
