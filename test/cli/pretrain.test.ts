/**
 * `sto pretrain`: reads a JSONL event history (bad file, bad lines), trains a fresh policy on it and writes
 * it to a file or as the head model of the model table on the local stack (DynamoDB Local), refusing to put
 * it over a head model without --force.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { IngestEvent } from '#events/index.ts';
import { appliedEntry, decodeApplied, encodeApplied } from '#lambdas/learner/applied-rewards.ts';
import type { LearnerModelStore, LearnerModelVersion } from '#lambdas/learner/learner.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { SendTimePolicy, type SerializedPolicy } from '#model/policy.ts';
import { pretrainPolicy } from '#model/pretrain.ts';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import {
  makeAppOpened,
  makeNotificationClicked,
  makeNotificationDelivered,
  makeNotificationOpened,
  makeProfileUpsert,
} from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { readModelFile } from '../../cli/commands/evaluate.ts';
import { putPretrainedModel } from '../../cli/commands/pretrain.ts';
import { CliError } from '../../cli/errors.ts';
import { main } from '../../cli/main.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-05-04T08:00:00Z');
const at = (ms: number) => new Date(ms).toISOString();
const config = defaultConfig();

/** Ten users' profiles, sessions and 12 sends each, a third of them opened and some clicked. */
function history(): IngestEvent[] {
  const events: IngestEvent[] = [];
  for (let u = 0; u < 10; u++) {
    const userId = `user-${u}`;
    events.push(makeProfileUpsert({ userId, occurredAt: at(T0 - 24 * HOUR), timeZone: 'Europe/Paris' }));
    for (let i = 0; i < 12; i++) {
      const sentAt = T0 + i * 20 * HOUR + u * HOUR;
      const channel = (['email', 'push', 'sms'] as const)[(u + i) % 3];
      events.push(makeAppOpened({ userId, occurredAt: at(sentAt - 3 * HOUR) }));
      events.push(makeNotificationDelivered({ userId, channel, occurredAt: at(sentAt) }));
      if ((u + i) % 3 === 0) {
        events.push(makeNotificationOpened({ userId, channel, occurredAt: at(sentAt + HOUR) }));
        if (i % 2 === 0)
          events.push(makeNotificationClicked({ userId, channel, occurredAt: at(sentAt + HOUR + 60_000) }));
      }
    }
  }
  return events;
}

const EVENTS = history();
const jsonl = (events: readonly unknown[]) => `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;

let dir: string;
const { out, err } = captureCliOutput();

beforeAll(async () => {
  await initTensorBackend();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sto-pretrain-'));
});

const sto = (...args: string[]) => main(['node', 'sto', 'pretrain', '--quiet', ...args]);
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('sto pretrain to a file', () => {
  it('writes the policy that pretrainPolicy trains on the same events, which SendTimePolicy loads back', async () => {
    // Prepare
    const events = write('history.jsonl', jsonl(EVENTS));
    const file = join(dir, 'out', 'model.json');

    // Act
    const code = await sto('--events', events, '--out', file);

    // Assess
    expect(err()).toBe('');
    expect(code).toBe(0);
    const state = readModelFile(file);
    const expected = await pretrainPolicy(EVENTS, config);
    expect(state).toEqual(JSON.parse(JSON.stringify(expected.policy.serialize())));
    const loaded = SendTimePolicy.load(config, state);
    expect(loaded.version).toBe(expected.policy.version);
    expect(loaded.version).not.toBe(SendTimePolicy.create(config).version);
    // the newest event ends the history: the last sends' windows are still open
    expect(expected.rows).toBeGreaterThan(100);
    expect(expected.skipped.windowOpen).toBeGreaterThan(0);
    expect(out()).toContain(`events: ${EVENTS.length} valid of ${EVENTS.length} lines`);
    expect(out()).toContain(`sends: 120 delivered, ${expected.rows} learned`);
    expect(out()).toContain(`${expected.skipped.windowOpen} left out: attribution window still open`);
    const a = expected.events.attributed;
    expect(out()).toContain(`(0 by decisionId, ${a.byNearestDelivery} by the nearest earlier delivery`);
    expect(out()).toContain(`written to ${file}`);
    loaded.dispose();
    expected.policy.dispose();
  });

  it('skips bad lines, naming each by line number and reason, and learns from the rest', async () => {
    // Prepare: line 2 is not JSON, line 4 has an unknown type, line 6 lacks its channel; line 5 is blank
    const lines = EVENTS.map((e) => JSON.stringify(e));
    const { channel: _dropped, ...noChannel } = makeNotificationOpened({ userId: 'user-1' });
    lines.splice(1, 0, '{"schemaVersion": 1, "id": ');
    lines.splice(3, 0, JSON.stringify({ ...makeAppOpened(), type: 'app_closed' }));
    lines.splice(4, 0, '   ');
    lines.splice(5, 0, JSON.stringify(noChannel));
    const events = write('history.jsonl', `${lines.join('\n')}\n`);
    const file = join(dir, 'model.json');

    // Act
    const code = await sto('--events', events, '--out', file, '--end', at(T0 + 400 * HOUR));

    // Assess
    expect(code).toBe(0);
    expect(err()).toContain(`${events}, line 2: skipped, malformed_json: event body is not valid JSON`);
    expect(err()).toContain(`${events}, line 4: skipped, unknown_type: unknown event type "app_closed"`);
    expect(err()).toMatch(/line 6: skipped, invalid_fields: .*channel: required/);
    expect(err()).not.toContain('line 5');
    expect(out()).toContain(`events: ${EVENTS.length} valid of ${EVENTS.length + 3} lines`);
    expect(out()).toContain('(3 bad lines skipped)');
    // every send's window closed by --end
    expect(out()).toContain('sends: 120 delivered, 120 learned');
    expect(readModelFile(file).bandit.updates).toBe(120);
  });

  it('says which file it cannot read, and why, with exit code 2', async () => {
    const missing = join(dir, 'nope.jsonl');
    expect(await sto('--events', missing, '--out', join(dir, 'm.json'))).toBe(2);
    expect(err()).toContain(`Cannot read events ${missing}: ENOENT`);
  });

  it('refuses a file with no valid event, and a history with no closed window, writing nothing', async () => {
    // Prepare
    const bad = write('bad.jsonl', 'not json\n{}\n');
    const recent = write(
      'recent.jsonl',
      jsonl([
        makeNotificationDelivered({ userId: 'u', occurredAt: at(T0) }),
        makeAppOpened({ occurredAt: at(T0 + HOUR) }),
      ]),
    );
    const file = join(dir, 'm.json');

    // Act / Assess
    expect(await sto('--events', bad, '--out', file)).toBe(2);
    expect(err()).toContain(`${bad}: no valid event in 2 lines (2 bad); nothing written`);
    expect(await sto('--events', recent, '--out', file)).toBe(2);
    expect(err()).toContain('no send to learn from: none of its 1 deliveries has a closed attribution window');
    expect(() => readFileSync(file)).toThrow(/ENOENT/);
  });

  it('validates the config like other commands, naming the file and field', async () => {
    const events = write('history.jsonl', jsonl(EVENTS));
    const bad = write('config.json', JSON.stringify({ ...defaultConfig(), reward: { attributionWindowHours: -1 } }));
    expect(await sto('--events', events, '--config', bad, '--out', join(dir, 'm.json'))).toBe(2);
    expect(err()).toContain(bad);
    expect(err()).toContain('reward.');
  });

  it('refuses contradictory or missing destinations and a bad --end before reading anything', async () => {
    const missing = join(dir, 'nope.jsonl');
    const env = process.env.MODEL_TABLE_NAME;
    delete process.env.MODEL_TABLE_NAME;
    try {
      expect(await sto('--events', missing)).toBe(2);
      expect(err()).toContain('no destination: pass --out FILE, or --table NAME');
    } finally {
      if (env !== undefined) process.env.MODEL_TABLE_NAME = env;
    }
    expect(await sto('--events', missing, '--out', 'm.json', '--table', 't')).toBe(2);
    expect(err()).toContain('pass either --out FILE');
    expect(await sto('--events', missing, '--out', 'm.json', '--end', 'soon')).toBe(2);
    expect(err()).toContain('--end must be an ISO 8601 instant');
  });
});

describe('putPretrainedModel', () => {
  function memoryStore(head?: LearnerModelVersion, accept = true): LearnerModelStore & { written: unknown[] } {
    const written: unknown[] = [];
    return {
      modelId: 'm',
      written,
      readHead: async () => head,
      writeVersion: async (next) => {
        written.push(next);
        return accept;
      },
    };
  }

  it('says another writer took the version, with exit code 1, when the conditional put fails', async () => {
    const policy = SendTimePolicy.create(config);
    const attempt = putPretrainedModel(memoryStore(undefined, false), policy, { now: 1, where: 'table t' });
    await expect(attempt).rejects.toThrow(/another writer .* version 1/);
    await expect(attempt).rejects.toMatchObject({ exitCode: 1 });
    policy.dispose();
  });

  it('refuses a state over the item budget', async () => {
    const policy = SendTimePolicy.create(config);
    const store = memoryStore();
    const attempt = putPretrainedModel(store, policy, { now: 1, where: 'table t', itemBudgetBytes: 1000 });
    await expect(attempt).rejects.toBeInstanceOf(CliError);
    await expect(attempt).rejects.toThrow(/over the 1000-byte budget/);
    expect(store.written).toHaveLength(0);
    policy.dispose();
  });
});

describe('sto pretrain to the model table (local stack)', () => {
  const stack = useLocalStack({ resetBeforeEach: true });
  const tableArgs = () => [
    '--table',
    stack().tableNames.model,
    '--region',
    stack().region,
    '--endpoint',
    stack().endpoints.dynamodb,
  ];
  let events: string;
  beforeEach(() => {
    events = write('history.jsonl', jsonl(EVENTS));
  });

  it('writes version 1 as the head model, which the model store loads back into a policy', async () => {
    // Act
    const code = await sto('--events', events, ...tableArgs());

    // Assess
    expect(err()).toBe('');
    expect(code).toBe(0);
    const head = await modelTableStore(stack().clients.doc, stack().tableNames.model).readHead();
    expect(head?.version).toBe(1);
    const expected = await pretrainPolicy(EVENTS, config);
    const policy = SendTimePolicy.load(config, head?.state as SerializedPolicy);
    expect(policy.version).toBe(expected.policy.version);
    expect(out()).toContain(`written to model table "${stack().tableNames.model}": send-time-policy version 1`);
    policy.dispose();
    expected.policy.dispose();
  });

  it('refuses to put it over an existing head without --force; with it, writes the next version and keeps the applied-reward memory', async () => {
    // Prepare: the deployed learner's head, version 3, which remembers one applied reward
    const store = modelTableStore(stack().clients.doc, stack().tableNames.model);
    const learner = SendTimePolicy.create(config);
    const applied = encodeApplied([appliedEntry('dec_req-1', Date.now())]);
    await store.writeVersion({
      version: 3,
      state: learner.serialize(),
      appliedRewards: applied,
      policyVersion: learner.version,
      createdAt: Date.now(),
    });
    learner.dispose();

    // Act
    const refused = await sto('--events', events, ...tableArgs());
    const refusal = err();
    const forced = await sto('--events', events, ...tableArgs(), '--force');

    // Assess
    expect(refused).toBe(2);
    expect(refusal).toContain('already has a head model: send-time-policy version 3');
    expect(refusal).toContain('Pass --force to write it as version 4');
    expect(forced).toBe(0);
    expect(out()).toContain('send-time-policy version 4 (on top of version 3, --force)');
    const head = await store.readHead();
    expect(head?.version).toBe(4);
    expect(head?.state.bandit.updates).toBeGreaterThan(100);
    expect(decodeApplied(head?.appliedRewards)).toEqual(decodeApplied(applied));
  });

  it('says which table it could not find, with exit code 2', async () => {
    const code = await sto(
      '--events',
      events,
      '--table',
      'no-such-table',
      '--region',
      stack().region,
      '--endpoint',
      stack().endpoints.dynamodb,
    );
    expect(code).toBe(2);
    expect(err()).toContain('model table "no-such-table" not found');
  });
});
