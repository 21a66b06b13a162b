import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ANALYST_CONFIG_SCHEMA_FILE,
  analystConfigJsonSchema,
  analystConfigJsonSchemaText,
  appConfigValidatorJsonSchema,
} from '#config/json-schema.ts';
import { parseConfig } from '#config/load.ts';
import { main } from '../../cli/main.ts';

const root = new URL('../../', import.meta.url);
const schemaUrl = new URL(ANALYST_CONFIG_SCHEMA_FILE, root);

// ajv-formats is CommonJS; its default export arrives wrapped or not depending on the loader.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

async function committedValidator() {
  const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true }));
  return ajv.compile(JSON.parse(await readFile(schemaUrl, 'utf8')));
}

async function defaultConfigJson(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(new URL('config/default.json', root), 'utf8'));
}

function zodAccepts(value: unknown): boolean {
  try {
    parseConfig(value);
    return true;
  } catch {
    return false;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the analysts' config JSON Schema", () => {
  it('matches the committed file (run `npm run schemas` after changing config/schema.ts)', async () => {
    expect(await readFile(schemaUrl, 'utf8'), `${ANALYST_CONFIG_SCHEMA_FILE} drifted`).toBe(
      analystConfigJsonSchemaText(),
    );
  });

  it('the --check script exits 0 when nothing drifted', async () => {
    const { stdout } = await promisify(execFile)(
      'node_modules/.bin/tsx',
      ['config/generate-json-schema.ts', '--check'],
      {
        cwd: root.pathname,
      },
    );
    expect(stdout).toContain('up to date');
  });

  it('is what `sto config schema` prints', async () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    expect(await main(['node', 'sto', 'config', 'schema'])).toBe(0);
    expect(out).toBe(analystConfigJsonSchemaText());
  });

  it('is the file config/default.json names as its $schema, with a title and a description', async () => {
    expect((await defaultConfigJson()).$schema).toBe('./analyst-config.schema.json');
    const schema = analystConfigJsonSchema();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toEqual(expect.any(String));
    expect(schema.description).toEqual(expect.stringContaining('IANA time zone'));
  });

  it('makes fields with defaults optional (input side)', () => {
    const schema = analystConfigJsonSchema() as { required: string[] };
    expect(schema.required.sort()).toEqual(['bandit', 'channels', 'guardrails', 'reward', 'version']);
  });

  it('accepts config/default.json, as zod does', async () => {
    const validate = await committedValidator();
    const config = await defaultConfigJson();
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(zodAccepts(config)).toBe(true);
  });

  it('accepts every bandit algorithm with only its required fields, as zod does', async () => {
    const validate = await committedValidator();
    const base = await defaultConfigJson();
    for (const algorithm of ['linear-ts', 'linucb', 'epsilon-greedy', 'neural-linear']) {
      const config = { ...base, bandit: { algorithm } };
      expect(validate(config), `${algorithm}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(zodAccepts(config), algorithm).toBe(true);
    }
  });

  // biome-ignore lint/suspicious/noExplicitAny: each case spoils an arbitrary place of the parsed JSON
  const bad: [string, (c: Record<string, any>) => void, string][] = [
    ['an exploration floor above 0.5', (c) => (c.bandit.explorationFloor = 0.9), '/bandit'],
    ['a negative channel cost', (c) => (c.channels.sms.cost = -1), '/channels/sms/cost'],
    [
      'a quiet hour that is not HH:MM',
      (c) => (c.guardrails.quietHours.start = '25:00'),
      '/guardrails/quietHours/start',
    ],
    ['a misspelt field', (c) => (c.holdout.shares = 0.1), '/holdout'],
    ['an unknown algorithm', (c) => (c.bandit = { algorithm: 'ucb2' }), '/bandit'],
    ["another algorithm's parameter", (c) => (c.bandit = { algorithm: 'linear-ts', alpha: 1 }), '/bandit'],
    ['no version', (c) => delete c.version, ''],
    ['a version with a space', (c) => (c.version = 'v 2'), '/version'],
    ['a refresh interval of 0', (c) => (c.model.refreshIntervalSeconds = 0), '/model/refreshIntervalSeconds'],
    ['a fractional cap', (c) => (c.guardrails.frequencyCaps.global.maxSends = 1.5), '/guardrails/frequencyCaps'],
  ];
  it.each(bad)('rejects %s, as zod does', async (_name, spoil, instancePath) => {
    const validate = await committedValidator();
    const config = await defaultConfigJson();
    spoil(config);
    expect(validate(config)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^${instancePath}`))]),
    );
    expect(zodAccepts(config)).toBe(false);
  });

  it('as Draft-04 for an AppConfig validator: no newer keywords, within its 32,768 characters', () => {
    const schema = appConfigValidatorJsonSchema();
    expect(schema).toEqual(analystConfigJsonSchema({ target: 'draft-4' }));
    expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    const text = JSON.stringify(schema);
    expect(text.length).toBeLessThanOrEqual(32_768);
    expect(text).not.toMatch(/"(const|\$defs|if|then|else|contains|propertyNames)":/);
    expect(text).not.toMatch(/"exclusive(Minimum|Maximum)":\s*-?\d/);
    expect(text).toContain('"exclusiveMinimum":true');
  });
});
