import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INGEST_EVENT_TYPES, parseIngestEvent, parseNotificationRequest } from '#events/index.ts';
import { generateJsonSchemas, JSON_SCHEMA_DOCUMENTS } from '#events/json-schema.ts';
import { makeProfileUpsert, makeRequest } from '#test/helpers/event-factories.ts';
import { ingestEventArb, notificationRequestArb } from './arbitraries.ts';

const root = new URL('../../', import.meta.url);
const schemaDir = new URL('events/json-schema/', root);
const fixtureDir = new URL('events/fixtures/', root);

// ajv-formats is CommonJS; its default export arrives wrapped or not depending on the loader.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

async function compile(file: string) {
  const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true }));
  return ajv.compile(JSON.parse(await readFile(new URL(file, schemaDir), 'utf8')));
}

async function fixtures(): Promise<{ file: string; text: string; value: { type: string } }[]> {
  const files = (await readdir(fixtureDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(new URL(file, fixtureDir), 'utf8');
      return { file, text, value: JSON.parse(text) };
    }),
  );
}

describe('generated JSON Schema', () => {
  it('matches the committed files (run `npx tsx events/generate-json-schema.ts` after changing a schema)', async () => {
    const generated = generateJsonSchemas();
    const committed = (await readdir(schemaDir)).filter((f) => f.endsWith('.schema.json')).sort();
    expect(committed).toEqual(Object.keys(JSON_SCHEMA_DOCUMENTS).sort());
    for (const [file, text] of Object.entries(generated))
      expect(await readFile(new URL(file, schemaDir), 'utf8'), `${file} drifted`).toBe(text);
  });

  it('the --check script exits 0 when nothing drifted', async () => {
    const run = promisify(execFile);
    const { stdout } = await run('node_modules/.bin/tsx', ['events/generate-json-schema.ts', '--check'], {
      cwd: root.pathname,
    });
    expect(stdout).toContain('up to date');
  });

  it('describes the ingest event as one object per type, closed to unknown fields', async () => {
    const schema = JSON.parse(await readFile(new URL('ingest-event.schema.json', schemaDir), 'utf8'));
    const types = schema.oneOf.map((s: { properties: { type: { const: string } } }) => s.properties.type.const);
    expect(types.sort()).toEqual([...INGEST_EVENT_TYPES].sort());
    for (const member of schema.oneOf) expect(member.additionalProperties).toBe(false);
  });

  it('accepts what zod accepts: generated valid events and requests (fast-check)', async () => {
    const validateEvent = await compile('ingest-event.schema.json');
    const validateRequest = await compile('notification-request.schema.json');
    fc.assert(
      fc.property(ingestEventArb, (event) => {
        const wire = JSON.parse(JSON.stringify(event));
        expect(validateEvent(wire), JSON.stringify(validateEvent.errors)).toBe(true);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(notificationRequestArb, (request) => {
        const wire = JSON.parse(JSON.stringify(request));
        expect(validateRequest(wire), JSON.stringify(validateRequest.errors)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses, like zod, the cross-field rules it can express', async () => {
    const validateRequest = await compile('notification-request.schema.json');
    const validateEvent = await compile('ingest-event.schema.json');
    const noSmsContent = makeRequest({
      allowedChannels: ['sms', 'email'],
      content: { email: { subject: 's', text: 't' } },
    });
    const promotionalLoud = makeRequest({ kind: 'promotional', ignoreQuietHours: true });
    const repeated = makeRequest({ allowedChannels: ['push', 'push'] });
    for (const request of [noSmsContent, promotionalLoud, repeated]) {
      expect(validateRequest(request)).toBe(false);
      expect(parseNotificationRequest(JSON.stringify(request)).ok).toBe(false);
    }
    for (const profile of [
      makeProfileUpsert({ phone: '+1 415 555 0123' }),
      makeProfileUpsert({ email: 'not-an-address' }),
      { ...makeProfileUpsert(), nickname: 'x' },
      makeProfileUpsert({ timeZone: '+05:00' }),
    ]) {
      expect(validateEvent(profile)).toBe(false);
      expect(parseIngestEvent(JSON.stringify(profile)).ok).toBe(false);
    }
  });
});

describe('fixtures (events/fixtures)', () => {
  it('has one fixture for every message type', async () => {
    const types = new Set((await fixtures()).map((f) => f.value.type));
    expect([...types].sort()).toEqual([...INGEST_EVENT_TYPES, 'notification_requested'].sort());
  });

  it('every fixture is named after its type, parses with zod and validates against the JSON Schema', async () => {
    const validateEvent = await compile('ingest-event.schema.json');
    const validateRequest = await compile('notification-request.schema.json');
    for (const { file, text, value } of await fixtures()) {
      expect(file.split('.')[0], file).toBe(value.type);
      const isRequest = value.type === 'notification_requested';
      const parsed = isRequest ? parseNotificationRequest(text) : parseIngestEvent(text);
      expect(parsed.ok ? 'ok' : parsed.error.message, file).toBe('ok');
      const validate = isRequest ? validateRequest : validateEvent;
      expect(validate(value), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
