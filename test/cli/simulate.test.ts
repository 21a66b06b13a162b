import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import { main } from '../../cli/main.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const defaultPopulation = join(root, 'sim/populations/default.json');

let dir: string;
const { out: stdout, err: stderr } = captureCliOutput();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sto-cli-'));
});

const sto = (...args: string[]) => main(['node', 'sto', ...args]);
const quick = ['--days', '1', '--seeds', '1', '--users', '40', '--policies', 'heuristic,oracle', '--quiet'];

describe('sto simulate: bad input', () => {
  it('exits 2 and names a population file that does not exist', async () => {
    const missing = join(dir, 'nope.json');
    expect(await sto('simulate', '--population', missing, '--out', dir, ...quick)).toBe(2);
    expect(stderr()).toContain(missing);
    expect(stderr()).toMatch(/Cannot read population file/);
  });

  it('exits 2 and names a population file that is not JSON', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "name": "x", users: 3 ');
    expect(await sto('simulate', '--population', file, '--out', dir, ...quick)).toBe(2);
    expect(stderr()).toContain(file);
    expect(stderr()).toMatch(/not valid JSON/);
  });

  it('exits 2 and lists every schema violation with its field path', async () => {
    const population = JSON.parse(readFileSync(defaultPopulation, 'utf8'));
    population.users = -5;
    population.channels.sms.open.median = 2;
    population.requests.kinds[1].allowedChannels = ['fax'];
    const file = join(dir, 'invalid.json');
    writeFileSync(file, JSON.stringify(population));
    expect(await sto('simulate', '--population', file, '--out', dir, ...quick)).toBe(2);
    expect(stderr()).toContain(`Invalid population in ${file}`);
    expect(stderr()).toContain('- users:');
    expect(stderr()).toContain('- channels.sms.open.median:');
    expect(stderr()).toContain('- requests.kinds[1].allowedChannels[0]:');
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);
  });

  it('exits 2 on a config that breaks its schema, naming the field', async () => {
    const file = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(join(root, 'config/default.json'), 'utf8'));
    config.guardrails.quietHours.start = '25:00';
    writeFileSync(file, JSON.stringify(config));
    expect(await sto('simulate', '--config', file, '--out', dir, ...quick)).toBe(2);
    expect(stderr()).toContain(file);
    expect(stderr()).toContain('guardrails.quietHours.start');
  });

  it('exits 2 on an unknown policy or a bad number', async () => {
    expect(await sto('simulate', '--out', dir, ...quick, '--policies', 'heuristic,psychic')).toBe(2);
    expect(stderr()).toContain('unknown policy "psychic"');
    expect(await sto('simulate', '--out', dir, ...quick, '--days', 'many')).toBe(2);
    expect(stderr()).toContain('--days must be a whole number');
  });

  it('exits 2 on a seed list with an empty item instead of adding seed 0', async () => {
    expect(await sto('simulate', '--out', dir, ...quick, '--seeds', '3,')).toBe(2);
    expect(stderr()).toContain('--seeds (list) must be a whole number');
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);
  });

  it('exits 2 on a policy or a config listed twice, naming it', async () => {
    expect(await sto('simulate', '--out', dir, ...quick, '--policies', 'heuristic,oracle,heuristic')).toBe(2);
    expect(stderr()).toContain('--policies lists "heuristic" twice');
    const config = join(root, 'config/default.json');
    const args = ['--policies', 'bandit,heuristic', '--configs', `${config},${config}`];
    expect(await sto('simulate', '--out', dir, ...quick, ...args)).toBe(2);
    expect(stderr()).toContain(`--configs lists ${config} twice`);
  });

  it('exits 2 on two configs that would be reported under one name', async () => {
    const config = readFileSync(join(root, 'config/default.json'), 'utf8');
    for (const sub of ['a', 'b']) {
      mkdirSync(join(dir, sub));
      writeFileSync(join(dir, sub, 'c.json'), config);
    }
    const configs = `${join(dir, 'a/c.json')},${join(dir, 'b/c.json')}`;
    expect(await sto('simulate', '--out', dir, ...quick, '--policies', 'bandit', '--configs', configs)).toBe(2);
    expect(stderr()).toMatch(/--configs: .*a\/c\.json and .*b\/c\.json would both be reported as "c"/);
  });

  it('exits 2 before simulating when --out cannot be a directory', async () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'x');
    expect(await sto('simulate', '--out', file, ...quick)).toBe(2);
    expect(stderr()).toContain(`--out: cannot write into ${file}: a file is in the way`);
  });

  it('exits 2 on an unknown option', async () => {
    expect(await sto('simulate', '--dayz', '3')).toBe(2);
    expect(stderr()).toContain("unknown option '--dayz'");
  });
});

describe('sto simulate', () => {
  it('writes summary.json and report.html and prints their paths', async () => {
    const code = await sto('simulate', '--population', 'default', '--out', dir, ...quick, '--seeds', '2');
    expect(stderr()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.seeds).toEqual([1, 2]);
    expect(Object.keys(summary.policies)).toEqual(['heuristic', 'oracle']);
    expect(stdout()).toContain(join(dir, 'report.html'));
  });
});

describe('sto simulate: a run that sends nothing', () => {
  it('still writes the report and prints the summary warnings on stderr', async () => {
    const population = JSON.parse(readFileSync(defaultPopulation, 'utf8'));
    population.requests.perUserPerDay = 0;
    const file = join(dir, 'silent.json');
    writeFileSync(file, JSON.stringify(population));
    expect(await sto('simulate', '--population', file, '--out', dir, ...quick)).toBe(0);
    expect(stderr()).toMatch(/^warning: no notification was sent/m);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.warnings[0]).toMatch(/^no notification was sent/);
  });
});

describe('bin/sto.js', () => {
  it('runs the CLI as a process and exits 2 on a missing file', () => {
    const missing = join(dir, 'missing.json');
    const run = spawnSync(
      process.execPath,
      [join(root, 'bin/sto.js'), 'simulate', '--population', missing, '--quiet'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(missing);
  });

  it('refuses to run on Node before 22, saying what to run instead', () => {
    const preload = join(dir, 'node20.cjs');
    writeFileSync(preload, "Object.defineProperty(process.versions, 'node', { value: '20.20.2' });\n");
    const run = spawnSync(process.execPath, ['--require', preload, join(root, 'bin/sto.js'), 'simulate'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('sto needs Node 22 or later, this is Node 20.20.2');
    expect(run.stderr).toContain('npx sto');
  });
});
