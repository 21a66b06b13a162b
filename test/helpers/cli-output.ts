/**
 * What a CLI command writes to stdout and stderr, captured for each test of the suite it is called in.
 */
import { afterEach, beforeEach, type MockInstance, vi } from 'vitest';

export interface CliOutput {
  /** everything written to stdout since the current test began */
  out: () => string;
  /** everything written to stderr since the current test began */
  err: () => string;
}

/**
 * Registers a beforeEach that starts capturing process.stdout and process.stderr (nothing reaches the terminal)
 * and an afterEach that restores them; call it at the top of a file or of a describe.
 * @example const { out, err } = captureCliOutput(); ... expect(err()).toBe('');
 */
export function captureCliOutput(): CliOutput {
  let out = '';
  let err = '';
  const spies: MockInstance[] = [];
  beforeEach(() => {
    out = '';
    err = '';
    spies.push(
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        out += String(chunk);
        return true;
      }),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
        err += String(chunk);
        return true;
      }),
    );
  });
  afterEach(() => {
    for (const spy of spies.splice(0)) spy.mockRestore();
  });
  return { out: () => out, err: () => err };
}
