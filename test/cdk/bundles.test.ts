/**
 * The deployable artifacts: every function of cdk/bundling.ts FUNCTIONS is built with buildBundle (the
 * options the CDK stack uses), then the BUILT FILE is imported in a fresh Node 22 process, in a directory
 * that holds only what the nodejs22.x runtime provides, and its handler runs once against the local stack
 * on a realistic event. A bundling mistake (a dependency left out, a TF.js backend import dropped by
 * esbuild, the wasm files missing) fails here, not in the first cold start after `cdk deploy`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ScheduledEvent, SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { NotificationRequest, ProfileUpsert } from '#events/index.ts';
import { dueShardFor } from '#infra/resources.ts';
import { ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { decodeUserState } from '#lambdas/ingest/user-item.ts';
import { encodeFeatureRow, REWARD_MESSAGE_FORMAT, type RewardMessage } from '#lambdas/rewards/index.ts';
import { decisionIdFor } from '#lambdas/shared/decision-item.ts';
import { SEND_TIME_MODEL_ID } from '#lambdas/shared/model-store.ts';
import { readSentEmails } from '#local/ses-inbox.ts';
import type { LocalStack } from '#local/stack.ts';
import { FEATURE_DIMENSION } from '#model/features.ts';
import { isInHoldout } from '#model/policy.ts';
import { makeSqsEvent } from '#test/helpers/event-factories.ts';
import {
  type BundleInvocation,
  createLambdaLikeRoot,
  invokeBundle,
  type LambdaLikeRoot,
} from '#test/helpers/lambda-bundle.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import {
  buildBundle,
  bundlingOptions,
  entryPath,
  FUNCTION_NAMES,
  FUNCTIONS,
  type FunctionName,
  PROJECT_ROOT,
} from '../../cdk/bundling.ts';

const stack = useLocalStack({ resetBeforeEach: true });
let root: LambdaLikeRoot;
beforeAll(() => {
  root = createLambdaLikeRoot();
});
afterAll(() => root?.remove());

const HOUR = 3_600_000;
const quietLogger = { info: () => {}, warn: () => {}, error: () => {} };

function fixture<T>(file: string): T {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'events', 'fixtures', file), 'utf8')) as T;
}

/** Writes a profile through the real ingest (the users item exactly as production shapes it). */
async function ingestProfile(s: LocalStack, profile: ProfileUpsert): Promise<void> {
  const outcome = await ingestBatch([{ messageId: 'setup-1', body: JSON.stringify(profile) }], {
    doc: s.clients.doc,
    usersTable: s.tableNames.users,
    features: { halfLifeDays: 14, defaultTimeZone: 'UTC' },
    now: Date.now,
    logger: quietLogger,
  });
  if (outcome.failures.length > 0) throw new Error(`setup ingest refused: ${JSON.stringify(outcome.failures)}`);
}

async function getItem(s: LocalStack, table: string, key: Record<string, unknown>) {
  const { Item } = await s.clients.doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return Item;
}

/** An IANA zone in which it is about noon at `now`, so the quiet-hours guardrail cannot stop a send. */
function zoneWhereItIsNoon(now: number): string {
  const offset = 12 - new Date(now).getUTCHours();
  // Etc/GMT signs are inverted (POSIX): Etc/GMT-3 is UTC+3
  return offset === 0 ? 'UTC' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

function batchFailures(run: BundleInvocation): unknown[] {
  return (run.result as SQSBatchResponse).batchItemFailures;
}

interface Scenario {
  /** Writes what the event refers to; returns the event and the function's own environment. */
  prepare(s: LocalStack, now: number): Promise<{ event: unknown; env?: Record<string, string> }>;
  /** Checks from the stack's side that the function did its job. */
  assess(s: LocalStack, run: BundleInvocation): Promise<void>;
}

const PROFILE = fixture<ProfileUpsert>('profile_upserted.json');
const REQUEST = fixture<NotificationRequest>('notification_requested.json');

/** One realistic invocation per function; the Record type makes a new function in FUNCTIONS need one. */
const SCENARIOS: Record<FunctionName, Scenario> = {
  ingest: {
    prepare: async (s) => ({ event: makeSqsEvent([PROFILE], { eventSourceARN: s.queueArns.events }) }),
    assess: async (s, run) => {
      expect(batchFailures(run)).toEqual([]);
      const item = await getItem(s, s.tableNames.users, { userId: PROFILE.userId });
      const user = decodeUserState(item as never, PROFILE.userId);
      expect(user.timeZone).toBe('Europe/Berlin');
      expect(user.consent.email.optedIn).toBe(true);
    },
  },
  decide: {
    prepare: async (s, now) => {
      const config = defaultConfig();
      // a user outside the holdout, so the bandit (TF.js) makes the decision
      const userId = ['cust-bundle-1', 'cust-bundle-2', 'cust-bundle-3'].find((u) => !isInHoldout(u, config.holdout));
      if (!userId) throw new Error('every candidate user is in the holdout');
      await ingestProfile(s, { ...PROFILE, userId, occurredAt: new Date(now - HOUR).toISOString() });
      const request: NotificationRequest = {
        ...REQUEST,
        userId,
        occurredAt: new Date(now).toISOString(),
        window: { notBefore: new Date(now).toISOString(), notAfter: new Date(now + 72 * HOUR).toISOString() },
      };
      return { event: makeSqsEvent([request], { eventSourceARN: s.queueArns.requests }) };
    },
    assess: async (s, run) => {
      expect(batchFailures(run)).toEqual([]);
      const item = await getItem(s, s.tableNames.decisions, { decisionId: decisionIdFor(REQUEST.id) });
      expect(item).toMatchObject({ status: 'scheduled', policyName: 'bandit', requestId: REQUEST.id });
      expect(item?.propensity).toBeGreaterThan(0);
      expect(item?.propensity).toBeLessThanOrEqual(1);
      expect(REQUEST.allowedChannels).toContain(item?.channel);
    },
  },
  dispatch: {
    prepare: async (s, now) => {
      const userId = 'cust-bundle-dispatch';
      await ingestProfile(s, {
        ...PROFILE,
        userId,
        occurredAt: new Date(now - HOUR).toISOString(),
        timeZone: zoneWhereItIsNoon(now),
      });
      const decisionId = 'dec_bundle-dispatch-1';
      await s.clients.doc.send(
        new PutCommand({
          TableName: s.tableNames.decisions,
          // as the sweeper leaves a due send: enqueued, still in the due index under its lease
          Item: {
            decisionId,
            requestId: 'bundle-dispatch-1',
            userId,
            campaignId: REQUEST.campaignId,
            kind: REQUEST.kind,
            status: 'enqueued',
            channel: 'email',
            slotIndex: 12,
            armIndex: 12,
            sendAt: now,
            decidedAt: now - 2 * HOUR,
            context: { window: { notBeforeMs: now - HOUR, notAfterMs: now + 48 * HOUR }, allowedChannels: ['email'] },
            content: REQUEST.content.email,
            dueShard: dueShardFor(decisionId),
            dueAt: now + 5 * 60_000,
          },
        }),
      );
      return {
        event: makeSqsEvent([{ decisionId }], { eventSourceARN: s.queueArns.dispatch }),
        env: { DISPATCH_FROM_EMAIL_ADDRESS: 'news@shop.example.com' },
      };
    },
    assess: async (s, run) => {
      expect(batchFailures(run)).toEqual([]);
      const item = await getItem(s, s.tableNames.decisions, { decisionId: 'dec_bundle-dispatch-1' });
      expect(item?.status).toBe('sent');
      const emails = await readSentEmails(s, { to: PROFILE.email });
      expect(emails.map((e) => e.subject)).toEqual([REQUEST.content.email?.subject]);
    },
  },
  learner: {
    prepare: async (s, now) => {
      const features = Float32Array.from({ length: FEATURE_DIMENSION }, (_, i) => ((i * 7) % 10) / 10);
      const reward: RewardMessage = {
        format: REWARD_MESSAGE_FORMAT,
        decisionId: decisionIdFor(REQUEST.id),
        features: encodeFeatureRow(features),
        reward: 1,
        events: ['notification_opened', 'notification_clicked'],
        policyVersion: 'linear-ts-1+features-v1',
        rewardConfigVersion: defaultConfig().version,
        closedAt: now,
      };
      return { event: makeSqsEvent([reward], { eventSourceARN: s.queueArns.rewards }) };
    },
    assess: async (s, run) => {
      expect(batchFailures(run)).toEqual([]);
      const { Items = [] } = await s.clients.doc.send(
        new QueryCommand({
          TableName: s.tableNames.model,
          KeyConditionExpression: 'modelId = :id',
          ExpressionAttributeValues: { ':id': SEND_TIME_MODEL_ID },
          ConsistentRead: true,
        }),
      );
      expect(Items.map((i) => ({ version: i.version, updates: i.updates }))).toEqual([{ version: 1, updates: 1 }]);
    },
  },
  sweeper: {
    prepare: async (s, now) => {
      const decisionId = 'dec_bundle-sweeper-1';
      await s.clients.doc.send(
        new PutCommand({
          TableName: s.tableNames.decisions,
          // as decide leaves a decision whose send instant has come
          Item: {
            decisionId,
            requestId: 'bundle-sweeper-1',
            userId: PROFILE.userId,
            status: 'scheduled',
            channel: 'push',
            sendAt: now - 1_000,
            decidedAt: now - 6 * HOUR,
            dueShard: dueShardFor(decisionId),
            dueAt: now - 1_000,
          },
        }),
      );
      const event: ScheduledEvent = {
        version: '0',
        id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '000000000000',
        time: new Date(now).toISOString(),
        region: s.region,
        resources: [`arn:aws:events:${s.region}:000000000000:rule/sto-sweeper`],
        detail: {},
      };
      return { event };
    },
    assess: async (s, run) => {
      expect(run.result).toMatchObject({ enqueued: 1, lostClaims: 0, unsent: 0 });
      const item = await getItem(s, s.tableNames.decisions, { decisionId: 'dec_bundle-sweeper-1' });
      expect(item?.status).toBe('enqueued');
      const { Messages = [] } = await s.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: s.queueUrls.dispatch, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      expect(Messages.map((m) => JSON.parse(m.Body ?? '{}'))).toEqual([{ decisionId: 'dec_bundle-sweeper-1' }]);
    },
  },
};

/**
 * Why a run's TF.js is not what the function needs, or undefined when it is: the TF.js functions must
 * run on the wasm backend with cpu registered as the fallback; the others must not load TF.js at all.
 */
function tensorflowProblem(name: FunctionName, run: BundleInvocation): string | undefined {
  const tf = run.tensorflow;
  if (!FUNCTIONS[name].tensorflowWasm) return tf ? `${name} loads TF.js, which FUNCTIONS does not declare` : undefined;
  if (!tf) return `${name} never loaded TF.js`;
  for (const backend of ['wasm', 'cpu']) {
    if (!tf.registered.includes(backend)) return `the ${backend} backend is not registered (import dropped?)`;
  }
  if (tf.backend !== 'wasm') return `running on the ${tf.backend} backend instead of wasm: ${run.stderr.slice(0, 500)}`;
  return undefined;
}

describe('bundled Lambda functions', () => {
  it('FUNCTIONS names every Lambda entry under lambdas/', () => {
    const entries = readdirSync(join(PROJECT_ROOT, 'lambdas'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `lambdas/${d.name}/index.ts`)
      .filter((file) => {
        try {
          return /export const handler\b/.test(readFileSync(join(PROJECT_ROOT, file), 'utf8'));
        } catch {
          return false;
        }
      })
      .sort();
    expect(
      Object.values(FUNCTIONS)
        .map((f) => f.entry)
        .sort(),
    ).toEqual(entries);
  });

  it.each(FUNCTION_NAMES)('%s: the built bundle runs its handler on the local stack and does its job', async (name) => {
    // Prepare
    const built = await buildBundle(name, join(root.root, name));
    const now = Date.now();
    const { event, env = {} } = await SCENARIOS[name].prepare(stack(), now);

    // Act
    const run = await invokeBundle(built.file, event, { ...stack().env, ...env, AWS_LAMBDA_FUNCTION_NAME: name });

    // Assess
    expect(run.error, run.stderr).toBeUndefined();
    expect(run.node).toMatch(/^v22\./);
    expect(tensorflowProblem(name, run)).toBeUndefined();
    expect(built.wasm.length > 0).toBe(FUNCTIONS[name].tensorflowWasm);
    await SCENARIOS[name].assess(stack(), run);
  });

  it("CDK's NodejsFunction, given bundlingOptions, builds byte for byte what buildBundle builds", {
    timeout: 120_000,
  }, async () => {
    // Prepare: the CDK app loaded only here, as the stack loads it
    const { App, Stack } = await import('aws-cdk-lib');
    const { CfnFunction, Runtime } = await import('aws-cdk-lib/aws-lambda');
    const { NodejsFunction } = await import('aws-cdk-lib/aws-lambda-nodejs');
    const outdir = mkdtempSync(join(tmpdir(), 'sto-cdk-out-'));
    try {
      const app = new App({ outdir });
      const cdkStack = new Stack(app, 'BundlingProbe');
      // bundlingOptions differs only by tensorflowWasm: one function of each kind (CDK runs esbuild through npx, ~3 s each)
      const probes = [true, false].map(
        (wasm) => FUNCTION_NAMES.find((n) => FUNCTIONS[n].tensorflowWasm === wasm) as FunctionName,
      );
      const functions = probes.map((name) => ({
        name,
        fn: new NodejsFunction(cdkStack, name, {
          entry: entryPath(name),
          runtime: Runtime.NODEJS_22_X,
          handler: 'handler',
          bundling: bundlingOptions(name),
          projectRoot: PROJECT_ROOT,
          depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        }),
      }));

      // Act
      app.synth();

      // Assess
      for (const { name, fn } of functions) {
        const code = cdkStack.resolve((fn.node.defaultChild as InstanceType<typeof CfnFunction>).code) as {
          s3Key: string;
        };
        const assetDir = join(outdir, `asset.${code.s3Key.replace(/\.zip$/, '')}`);
        const built = await buildBundle(name, join(root.root, `${name}-compared`));
        expect(readdirSync(assetDir).sort(), name).toEqual([
          'index.mjs',
          ...built.wasm.map((w) => w.path.split('/').pop()),
        ]);
        expect(readFileSync(join(assetDir, 'index.mjs')).equals(readFileSync(built.file)), name).toBe(true);
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('notices a TF.js bundle whose wasm files are missing (it would run on cpu, 5-50x slower)', async () => {
    // Prepare
    const built = await buildBundle('decide', join(root.root, 'decide-without-wasm'));
    for (const wasm of built.wasm) rmSync(wasm.path);
    const { event } = await SCENARIOS.decide.prepare(stack(), Date.now());

    // Act
    const run = await invokeBundle(built.file, event, { ...stack().env, AWS_LAMBDA_FUNCTION_NAME: 'decide' });

    // Assess
    expect(tensorflowProblem('decide', run)).toMatch(/on the cpu backend instead of wasm/);
  });
});
