import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { InvalidPopulationError, PopulationFileError } from '#sim/errors.ts';
import {
  loadPopulationFile,
  parsePopulation,
  populationJsonSchema,
  SHIPPED_POPULATIONS,
  shippedPopulationPath,
} from '#sim/population.ts';
import { committedPopulationSchemaText, populationSchemaText } from '#sim/write-population-schema.ts';

// ajv-formats is CommonJS; its default export arrives wrapped or not depending on the loader.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

const shipped = () => JSON.parse(readFileSync(shippedPopulationPath('default'), 'utf8'));

function problemsOf(value: unknown): { path: string; reason: string }[] {
  try {
    parsePopulation(value, 'pop.json');
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPopulationError);
    return (error as InvalidPopulationError).problems;
  }
  throw new Error('expected the population to be refused');
}

describe('population schema', () => {
  it.each(SHIPPED_POPULATIONS)('accepts the shipped population %s', (name) => {
    const population = loadPopulationFile(shippedPopulationPath(name));
    expect(population.name).toBe(name);
    expect(population.users).toBeGreaterThan(0);
  });

  it('names the path of a field out of range', () => {
    const bad = shipped();
    bad.channels.push.open.median = 1.5;
    const problems = problemsOf(bad);
    expect(problems.map((p) => p.path)).toContain('channels.push.open.median');
  });

  it('names the path of an unknown time zone inside a list', () => {
    const bad = shipped();
    bad.timeZones[2].zone = 'Mars/Olympus_Mons';
    const problems = problemsOf(bad);
    expect(problems).toContainEqual({
      path: 'timeZones[2].zone',
      reason: expect.stringContaining('Mars/Olympus_Mons'),
    });
  });

  it('refuses unknown and missing fields, each with its path', () => {
    const bad = shipped();
    bad.fatigue.halfLife = 3;
    delete bad.sessions.noiseShare;
    const problems = problemsOf(bad);
    expect(problems).toContainEqual({ path: 'fatigue', reason: expect.stringContaining('halfLife') });
    expect(problems.map((p) => p.path)).toContain('sessions.noiseShare');
  });

  it('refuses a kind other than transactional that asks to ignore quiet hours', () => {
    const bad = shipped();
    bad.requests.kinds[0].ignoreQuietHours = true;
    expect(problemsOf(bad)).toContainEqual({
      path: 'requests.kinds[0].ignoreQuietHours',
      reason: expect.stringContaining('transactional'),
    });
  });

  it('says which file could not be read or parsed', () => {
    expect(() => loadPopulationFile('/no/such/population.json')).toThrow(PopulationFileError);
    expect(() => loadPopulationFile('/no/such/population.json')).toThrow('/no/such/population.json');
  });
});

type Mutation = (p: ReturnType<typeof shipped>) => void;

/**
 * The loader's cross-field rules (superRefine in sim/population.ts): where the loader reports each, the
 * schema field (dotted, `*` = array items) whose description must state it, and whether the JSON Schema
 * itself also refuses it (the others cannot be said exactly in JSON Schema: comparing two fields, a name
 * the runtime's time-zone database knows, a field unique across array items).
 */
const CROSS_FIELD_RULES: {
  rule: string;
  mutate: Mutation;
  loaderPath: string;
  schemaField: string;
  described: RegExp;
  inJsonSchema: boolean;
}[] = [
  {
    rule: 'unknown IANA time zone',
    mutate: (p) => {
      p.timeZones[0].zone = 'Mars/Olympus_Mons';
    },
    loaderPath: 'timeZones[0].zone',
    schemaField: 'timeZones.*.zone',
    described: /refuses a name the runtime does not know/,
    inJsonSchema: false,
  },
  {
    rule: 'all bumpsPerUser weights zero',
    mutate: (p) => {
      p.preference.bumpsPerUser = [0, 0, 0];
    },
    loaderPath: 'preference.bumpsPerUser',
    schemaField: 'preference.bumpsPerUser',
    described: /at least one must be above 0/,
    inJsonSchema: true,
  },
  {
    rule: 'windowHours.min above max',
    mutate: (p) => {
      p.requests.kinds[0].windowHours = { min: 30, max: 20 };
    },
    loaderPath: 'requests.kinds[0].windowHours',
    schemaField: 'requests.kinds.*.windowHours',
    described: /min must not be above max/,
    inJsonSchema: false,
  },
  {
    rule: 'arrivalUtcHours.start not before end',
    mutate: (p) => {
      p.requests.kinds[0].arrivalUtcHours = { start: 18, end: 6 };
    },
    loaderPath: 'requests.kinds[0].arrivalUtcHours',
    schemaField: 'requests.kinds.*.arrivalUtcHours',
    described: /start must be before end/,
    inJsonSchema: false,
  },
  {
    rule: 'duplicate kind',
    mutate: (p) => {
      p.requests.kinds[1].kind = p.requests.kinds[0].kind;
    },
    loaderPath: 'requests.kinds',
    schemaField: 'requests.kinds',
    described: /may appear only once/,
    inJsonSchema: false,
  },
  {
    rule: 'ignoreQuietHours on a kind other than transactional',
    mutate: (p) => {
      p.requests.kinds[0].ignoreQuietHours = true;
    },
    loaderPath: 'requests.kinds[0].ignoreQuietHours',
    schemaField: 'requests.kinds.*.ignoreQuietHours',
    described: /Only the kind "transactional" may set it to true: the loader refuses it on any other kind/,
    inJsonSchema: true,
  },
];

type SchemaNode = { description?: string; properties?: Record<string, SchemaNode>; items?: SchemaNode };

function schemaNode(schema: SchemaNode, dotted: string): SchemaNode {
  let node = schema;
  for (const step of dotted.split('.')) {
    const next = step === '*' ? node.items : node.properties?.[step];
    if (!next) throw new Error(`no schema node ${dotted} (stuck at ${step})`);
    node = next;
  }
  return node;
}

function committedValidator() {
  const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true }));
  return ajv.compile(JSON.parse(committedPopulationSchemaText()));
}

describe('population JSON Schema', () => {
  it('is byte for byte the committed sim/population.schema.json (run `npx tsx sim/write-population-schema.ts` after a schema change)', () => {
    expect(committedPopulationSchemaText()).toBe(populationSchemaText());
    expect(JSON.parse(committedPopulationSchemaText())).toEqual(populationJsonSchema());
  });

  it.each(SHIPPED_POPULATIONS)('accepts the shipped population %s', (name) => {
    const validate = committedValidator();
    expect(
      validate(JSON.parse(readFileSync(shippedPopulationPath(name), 'utf8'))),
      JSON.stringify(validate.errors),
    ).toBe(true);
  });

  it('accepts ignoreQuietHours on the kind "transactional", as the loader does', () => {
    const good = shipped();
    const transactional = good.requests.kinds.find((k: { kind: string }) => k.kind === 'transactional');
    expect(transactional.ignoreQuietHours).toBe(true);
    expect(committedValidator()(good)).toBe(true);
    expect(() => parsePopulation(good)).not.toThrow();
  });

  it.each(CROSS_FIELD_RULES)('states the loader rule $rule at the field it concerns', (r) => {
    const bad = shipped();
    r.mutate(bad);
    expect(problemsOf(bad).map((p) => p.path)).toContain(r.loaderPath);
    expect(schemaNode(populationJsonSchema() as SchemaNode, r.schemaField).description).toMatch(r.described);
    expect(committedValidator()(bad)).toBe(!r.inJsonSchema);
  });

  it('documents the fields an author needs', () => {
    const schema = populationJsonSchema() as {
      properties: Record<string, { description?: string }>;
      required: string[];
    };
    for (const field of ['timeZones', 'preference', 'fatigue', 'sessions', 'coldStart', 'requests']) {
      expect(schema.properties[field].description, field).toBeTruthy();
    }
    expect(schema.required).toContain('users');
  });
});
