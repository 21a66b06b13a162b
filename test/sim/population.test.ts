import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidPopulationError, PopulationFileError } from '#sim/errors.ts';
import {
  loadPopulationFile,
  parsePopulation,
  populationJsonSchema,
  SHIPPED_POPULATIONS,
  shippedPopulationPath,
} from '#sim/population.ts';

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
      path: 'timeZones.[2].zone',
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
      path: 'requests.kinds.[0].ignoreQuietHours',
      reason: expect.stringContaining('transactional'),
    });
  });

  it('says which file could not be read or parsed', () => {
    expect(() => loadPopulationFile('/no/such/population.json')).toThrow(PopulationFileError);
    expect(() => loadPopulationFile('/no/such/population.json')).toThrow('/no/such/population.json');
  });
});

describe('population JSON Schema', () => {
  it('matches the committed sim/population.schema.json (run `npx tsx sim/write-population-schema.ts` after a schema change)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../sim/population.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(populationJsonSchema());
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
