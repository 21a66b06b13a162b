/**
 * At most once, whatever happens: a fast-check property over random runs of one decision's dispatch
 * messages on DynamoDB Local. Each run delivers 1-4 copies of the message, some of them concurrently;
 * deliveries crash (the invocation stops dead, as a killed Lambda) before the claim, after the claim,
 * after the provider accepted, or just before the outcome write; the provider throttles its first calls
 * and may answer one call ambiguously; SQS redelivers whatever was not acknowledged after the visibility
 * timeout (the clock moves on), and the sweeper adds a copy when a send goes back to `enqueued`.
 *
 * Properties: the provider takes at most one call that may have delivered (accepted or ambiguous), and
 * exactly one when nothing blocks the send (no guardrail, no crash while the claim was held before an
 * acceptance, no ambiguous answer); every run ends with every message acknowledged and the decision in a
 * final state that says what happened.
 */

import { TooManyRequestsException } from '@aws-sdk/client-sesv2';
import { ThrottledException } from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '#infra/resources.ts';
import {
  type DispatchDeps,
  type DispatchOutcome,
  dispatchDecision,
  RETRY_OUTCOMES,
} from '#lambdas/dispatch/dispatch.ts';
import type { DispatchProviders, ProviderAcceptance, ProviderSend } from '#lambdas/dispatch/providers.ts';
import type { LocalStack } from '#local/stack.ts';
import { makeUnsubscribed } from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { dispatchDeps, ingest, NOW, putEnqueuedDecision, putReachableUser, readDecision } from './dispatch-fixtures.ts';

const stack = useLocalStack();
beforeAll(async () => {
  const s = stack();
  await putReachableUser(s, 'prop-blocked');
  await ingest(
    s,
    (['email', 'push', 'sms'] as const).map((channel) =>
      makeUnsubscribed({ userId: 'prop-blocked', channel, occurredAt: '2026-11-02T10:00:00Z' }),
    ),
  );
});

const CRASH_STEPS = ['none', 'before_claim', 'after_claim', 'after_accept', 'before_outcome'] as const;
type CrashStep = (typeof CRASH_STEPS)[number];
const VISIBILITY_MS = QUEUES.dispatch.visibilityTimeoutSeconds * 1000;

interface Scenario {
  channel: 'email' | 'push' | 'sms';
  blocked: boolean;
  copies: number;
  /** the provider throttles this many calls before anything else */
  throttledCalls: number;
  /** the n-th call after the throttled ones answers ambiguously (after delivering), if any */
  ambiguousCall: number | null;
  /** crash step of the i-th delivery, in the order deliveries start; 'none' beyond the list */
  crashes: CrashStep[];
  /** how many pending deliveries each round runs at once */
  groupSizes: number[];
  /** the sweeper's lease recovery adds a copy when a send goes back to enqueued */
  sweeperCopies: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  channel: fc.constantFrom('email', 'push', 'sms'),
  blocked: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  copies: fc.integer({ min: 1, max: 4 }),
  throttledCalls: fc.integer({ min: 0, max: 9 }),
  ambiguousCall: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 5 }),
  crashes: fc.array(fc.constantFrom(...CRASH_STEPS), { maxLength: 8 }),
  groupSizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 6 }),
  sweeperCopies: fc.boolean(),
});

/** What the fake provider saw. */
interface ProviderLog {
  calls: number;
  /** calls that may have delivered: accepted, or answered ambiguously */
  delivered: number;
  ambiguous: boolean;
}

function fakeProviders(s: Scenario, log: ProviderLog): DispatchProviders {
  let afterThrottle = 0;
  const send = async (m: ProviderSend): Promise<ProviderAcceptance> => {
    log.calls++;
    if (log.calls <= s.throttledCalls) {
      const meta = { $metadata: { httpStatusCode: 400 } };
      throw m.channel === 'email'
        ? new TooManyRequestsException({ message: 'Maximum sending rate exceeded', ...meta })
        : new ThrottledException({ message: 'Rate exceeded', ...meta });
    }
    const n = afterThrottle++;
    log.delivered++;
    if (s.ambiguousCall === n) {
      log.ambiguous = true;
      throw Object.assign(new Error('request timed out'), { name: 'TimeoutError' });
    }
    return { providerMessageId: `msg-${log.calls}` };
  };
  return { email: { send }, push: { send }, sms: { send } };
}

const never = <T>() => new Promise<T>(() => {});

/** Runs one delivery; a crash stops it dead at its step (its promise never settles, like a killed process). */
async function deliver(
  decisionId: string,
  base: DispatchDeps,
  step: CrashStep,
  accepted: () => number,
  onLostClaim: () => void,
  onCrashAfterAcceptance: () => void,
): Promise<DispatchOutcome | 'crashed'> {
  let crash: () => void = () => {};
  const crashed = new Promise<'crashed'>((resolve) => {
    crash = () => resolve('crashed');
  });
  let providerCalled = false;
  const doc = {
    send: async (command: unknown) => {
      const input = command instanceof UpdateCommand ? command.input : undefined;
      const isClaim = input?.ConditionExpression === '#status = :enqueued';
      const isOutcome = input?.ConditionExpression?.includes('#attempt = :token') === true;
      if (isClaim && step === 'before_claim') {
        crash();
        return never();
      }
      if (
        isOutcome &&
        step === 'before_outcome' &&
        (providerCalled || input?.ExpressionAttributeValues?.[':status'] === 'stopped')
      ) {
        if (accepted() === 0) onLostClaim();
        else onCrashAfterAcceptance();
        crash();
        return never();
      }
      const result = await base.doc.send(command as never);
      if (isClaim && step === 'after_claim') {
        onLostClaim();
        crash();
        return never();
      }
      return result;
    },
  } as unknown as DynamoDBDocumentClient;
  const wrap = (p: DispatchProviders['email']) => ({
    send: async (m: never) => {
      providerCalled = true;
      const result = await p.send(m);
      if (step === 'after_accept') {
        onCrashAfterAcceptance();
        crash();
        return never<ProviderAcceptance>();
      }
      return result;
    },
  });
  const providers = {
    email: wrap(base.providers.email),
    push: wrap(base.providers.push as never),
    sms: wrap(base.providers.sms as never),
  } as DispatchProviders;
  return Promise.race([dispatchDecision(decisionId, { ...base, doc, providers }), crashed]);
}

let run = 0;

async function simulate(st: LocalStack, s: Scenario) {
  const decisionId = `dec_prop-${run}`;
  // A user of its own per scenario: dispatch logs each send in the user's send log, and an earlier
  // scenario's send at the same instant would cap this one.
  const openUser = `prop-open-${run++}`;
  if (!s.blocked) await putReachableUser(st, openUser);
  await putEnqueuedDecision(st, {
    decisionId,
    userId: s.blocked ? 'prop-blocked' : openUser,
    channel: s.channel,
  });
  const log: ProviderLog = { calls: 0, delivered: 0, ambiguous: false };
  let clock = NOW;
  let lostClaim = false;
  let crashedAfterAcceptance = false;
  const base = dispatchDeps(st, fakeProviders(s, log), { now: () => clock, random: () => 0.5 });
  let pending = s.copies;
  let started = 0;
  const outcomes: (DispatchOutcome | 'crashed')[] = [];
  for (let round = 0; pending > 0 && round < 60; round++) {
    const size = Math.min(pending, s.groupSizes[round % s.groupSizes.length]);
    pending -= size;
    const group = Array.from({ length: size }, () => s.crashes[started++] ?? 'none');
    const results = await Promise.all(
      group.map((step) =>
        deliver(
          decisionId,
          base,
          step,
          () => log.delivered,
          () => {
            lostClaim = true;
          },
          () => {
            crashedAfterAcceptance = true;
          },
        ),
      ),
    );
    for (const r of results) {
      outcomes.push(r);
      // not acknowledged: SQS redelivers it after the visibility timeout
      if (r === 'crashed' || RETRY_OUTCOMES.has(r.outcome)) pending++;
      if (r !== 'crashed' && r.outcome === 'requeued' && s.sweeperCopies) pending++;
    }
    clock += VISIBILITY_MS;
  }
  const item = await readDecision(st, decisionId);
  return { log, pending, lostClaim, crashedAfterAcceptance, status: item.status as string, outcomes };
}

describe('dispatch under duplicates, crashes and throttling', () => {
  it('calls the provider at most once per decision, and exactly once when nothing blocks it', async () => {
    const st = stack();
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { log, pending, lostClaim, crashedAfterAcceptance, status } = await simulate(st, s);
        // every message was acknowledged in the end, and the decision is settled
        expect(pending).toBe(0);
        expect(['sent', 'maybe_sent', 'stopped']).toContain(status);
        // at most once, always
        expect(log.delivered).toBeLessThanOrEqual(1);
        if (s.blocked) {
          expect(log.calls).toBe(0);
          expect(status).toBe(lostClaim ? 'maybe_sent' : 'stopped');
          return;
        }
        if (!lostClaim && !log.ambiguous) {
          // exactly once; recorded as sent unless the invocation died between acceptance and the write
          expect(log.delivered).toBe(1);
          expect(status).toBe(crashedAfterAcceptance ? 'maybe_sent' : 'sent');
        }
        if (lostClaim && log.delivered === 0) expect(status).toBe('maybe_sent');
        if (log.ambiguous) expect(status).toBe('maybe_sent');
      }),
      { numRuns: 150 },
    );
  });
});
