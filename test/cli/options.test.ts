import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '../../cli/errors.ts';
import { outputDirectory, outputFile, wholeNumber } from '../../cli/options.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sto-options-'));
});

describe('wholeNumber', () => {
  it('takes plain digits, with surrounding spaces', () => {
    expect(wholeNumber('7', '--days', 1, 365)).toBe(7);
    expect(wholeNumber(' 12 ', '--days', 1, 365)).toBe(12);
  });

  it.each(['', ' ', '0x2', '1e1', '2.0', '+3', '3,'])('refuses %j, naming the option and the value', (value) => {
    expect(() => wholeNumber(value, '--days', 0, 365)).toThrow(CliError);
    expect(() => wholeNumber(value, '--days', 0, 365)).toThrow(
      `--days must be a whole number from 0 to 365, got "${value}"`,
    );
  });

  it('refuses numbers out of range', () => {
    expect(() => wholeNumber('-1', '--days', 0, 365)).toThrow(/from 0 to 365, got "-1"/);
    expect(() => wholeNumber('366', '--days', 0, 365)).toThrow(/got "366"/);
  });
});

describe('outputDirectory', () => {
  it('creates a missing directory, nested', () => {
    const target = join(dir, 'a', 'b');
    expect(outputDirectory(target, '--out')).toBe(target);
    expect(statSync(target).isDirectory()).toBe(true);
  });

  it('refuses a path where a file is, naming the option, the path and why', () => {
    const file = join(dir, 'taken.json');
    writeFileSync(file, '{}');
    expect(() => outputDirectory(file, '--out')).toThrow(`--out: cannot write into ${file}: a file is in the way`);
    expect(() => outputDirectory(join(file, 'below'), '--out')).toThrow(/a file is in the way/);
  });
});

describe('outputFile', () => {
  it('creates the missing directory of a file and leaves the file to the caller', () => {
    const target = join(dir, 'x', 'result.json');
    expect(outputFile(target, '--out')).toBe(target);
    expect(statSync(join(dir, 'x')).isDirectory()).toBe(true);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a directory', () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(() => outputFile(sub, '--out')).toThrow(`--out: cannot write ${sub}: it is a directory`);
  });
});
