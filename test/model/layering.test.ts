/**
 * model/ is the pure core every other part builds on (design: no AWS, no process.env, no clock), so
 * it may import only itself, #config and #events, and packages that are not AWS's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const modelDir = join(root, 'model');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers of static and dynamic imports and re-exports, comments excluded. */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = [...code.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);
  return found;
}

const ALLOWED = [/^#model\//, /^#config\//, /^#events\//, /^\.\.?\//, /^node:(fs|path|url|crypto|zlib|module)$/];
const FORBIDDEN_PACKAGES = [/^@aws-sdk\//, /^aws-cdk/, /^@aws-lambda-powertools\//, /^constructs$/];

describe('model/ layering', () => {
  const files = sources(modelDir);

  it('finds the model sources', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.endsWith('pretrain.ts'))).toBe(true);
  });

  it('imports no other part of the product and no AWS package', () => {
    const bad: string[] = [];
    for (const file of files) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const ok =
          spec.startsWith('#') || spec.startsWith('.') || spec.startsWith('node:')
            ? ALLOWED.some((re) => re.test(spec))
            : !FORBIDDEN_PACKAGES.some((re) => re.test(spec));
        if (!ok) bad.push(`${relative(root, file)}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('reads no environment variable', () => {
    const bad = files.filter((f) => /process\.env/.test(readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')));
    expect(bad.map((f) => relative(root, f))).toEqual([]);
  });
});
