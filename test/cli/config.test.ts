import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import { diffConfigs } from '../../cli/commands/config.ts';
import { main } from '../../cli/main.ts';

let dir: string;
const { out, err } = captureCliOutput();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sto-config-'));
});

const sto = (...args: string[]) => main(['node', 'sto', ...args]);
const write = (name: string, value: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
};

describe('sto config validate', () => {
  it('accepts the shipped default', async () => {
    expect(await sto('config', 'validate', 'config/default.json')).toBe(0);
    expect(out()).toContain('is valid: version default-4, bandit linear-ts');
  });

  it('names every bad field with its path and reason and exits 2', async () => {
    const base = structuredClone(defaultConfig());
    base.bandit.explorationFloor = 0.9;
    base.channels.sms.cost = -1;
    base.guardrails.quietHours.start = '25:00';
    const file = write('bad.json', base);
    expect(await sto('config', 'validate', file)).toBe(2);
    expect(err()).toContain(file);
    expect(err()).toMatch(/bandit\.explorationFloor: .*0\.5/);
    expect(err()).toContain('channels.sms.cost');
    expect(err()).toMatch(/guardrails\.quietHours\.start: must be a 24-hour local time/);
  });

  it('says a file is not JSON, with its path', async () => {
    const file = write('broken.json', '{ "version": ');
    expect(await sto('config', 'validate', file)).toBe(2);
    expect(err()).toContain(`Config file ${file} is not valid JSON`);
  });
});

describe('sto config schema', () => {
  it('prints a JSON Schema that describes the bandit algorithms', async () => {
    expect(await sto('config', 'schema')).toBe(0);
    const schema = JSON.parse(out());
    expect(schema.properties.bandit.oneOf ?? schema.properties.bandit.anyOf).toHaveLength(4);
    expect(schema.required).toEqual(expect.arrayContaining(['version', 'channels', 'bandit', 'reward', 'guardrails']));
  });
});

describe('sto config diff', () => {
  it('describes each change in words, defaults filled in on both sides', () => {
    const a = defaultConfig();
    const b = parseConfig({ ...structuredClone(a), version: 'cand-2', bandit: { algorithm: 'linucb', alpha: 0.3 } });
    const texts = diffConfigs(a, b).map((c) => c.text);
    expect(texts[0]).toMatch(
      /bandit algorithm changes from linear-ts to linucb: the learned model does not carry over/,
    );
    expect(texts.some((t) => t.startsWith('bandit.alpha set to 0.3 — Width of the confidence bonus'))).toBe(true);
    expect(texts.some((t) => t.startsWith('bandit.noiseScale'))).toBe(false);
    expect(texts.some((t) => t.startsWith('config version "default-4" → "cand-2"'))).toBe(true);
  });

  it('reports a raised number with its relative change and nothing for identical configs', async () => {
    const a = defaultConfig();
    const raised = structuredClone(a);
    raised.reward.weights.notification_clicked = 1.5;
    expect(diffConfigs(a, raised).map((c) => c.text)).toEqual([
      expect.stringMatching(/^reward\.weights\.notification_clicked raised from 1 to 1\.5 \(\+50%\)/),
    ]);
    expect(await sto('config', 'diff', 'config/default.json', 'config/default.json')).toBe(0);
    expect(out()).toContain('no difference');
  });
});
