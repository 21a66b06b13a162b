/**
 * The deployable bundles (cdk/bundling.ts, built exactly as the CDK stack builds them): bytes of
 * JavaScript and of wasm per function, and the cold import of the built file in a fresh Node 22, as
 * Lambda's INIT phase does it (module-scope clients, config validation and, for the TF.js functions, the
 * wasm backend's initialisation included).
 *
 * Each sample is a new `node` process that imports the bundle and reports `performance.now()` around the
 * import; samples of every function and of an empty ESM module (the baseline) are interleaved, so a noisy
 * moment of the shared machine hits them alike. Reported: medians, and the ratio to the baseline.
 * Bundles run in a directory holding only what the nodejs22.x runtime provides (test/helpers/lambda-bundle.ts).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Metafile } from 'esbuild';
import { QUEUE_NAMES, QUEUES, TABLE_NAMES, TABLES } from '#infra/resources.ts';
import { createLambdaLikeRoot } from '#test/helpers/lambda-bundle.ts';
import { type BuiltBundle, buildBundle, FUNCTION_NAMES, type FunctionName } from '../cdk/bundling.ts';

const SAMPLES = 9;
/** JavaScript budgets, in bytes (1 MB = 10^6 bytes). */
const TARGET_JS_BYTES: Record<FunctionName, number> = {
  ingest: 400_000,
  decide: 1_000_000,
  dispatch: 400_000,
  learner: 400_000,
  sweeper: 400_000,
};

const IMPORT_TIMER = [
  'const started = performance.now();',
  'await import(process.argv[1]);',
  'process.stdout.write(JSON.stringify({ importMs: performance.now() - started }));',
  // the SDK's keep-alive agents may hold the event loop; the measurement is done
  'process.exit(0);',
].join('\n');

/** What every entry reads at module scope; no call leaves the process during the import. */
function importEnvironment(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    DISPATCH_FROM_EMAIL_ADDRESS: 'news@shop.example.com',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  for (const name of TABLE_NAMES) env[TABLES[name].envVar] = `bench-${name}`;
  for (const name of QUEUE_NAMES) {
    env[QUEUES[name].urlEnvVar] = `https://sqs.us-east-1.amazonaws.com/000000000000/bench-${name}`;
    env[QUEUES[name].dlqUrlEnvVar] = `https://sqs.us-east-1.amazonaws.com/000000000000/bench-${name}-dlq`;
  }
  return env;
}

function coldImportMs(file: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', IMPORT_TIMER, pathToFileURL(file).href],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`cold import of ${file} failed: ${stderr.slice(0, 2000)}`, { cause: error }));
          return;
        }
        resolve((JSON.parse(stdout) as { importMs: number }).importMs);
      },
    );
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** The packages (or project folders) that put the most bytes into the bundle. */
function largestInputs(metafile: Metafile, count = 5): { input: string; bytes: number }[] {
  const byInput = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
      const key = pkg ?? file.split('/').slice(0, -1).join('/');
      byInput.set(key, (byInput.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byInput.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([input, bytes]) => ({ input, bytes }));
}

export async function run(): Promise<Record<string, unknown>> {
  const root = createLambdaLikeRoot();
  try {
    const built = new Map<FunctionName, BuiltBundle>();
    for (const name of FUNCTION_NAMES) built.set(name, await buildBundle(name, join(root.root, name)));
    const emptyModule = join(root.root, 'empty.mjs');
    writeFileSync(emptyModule, 'export {};\n');

    const env = importEnvironment();
    const samples = new Map<string, number[]>([
      ['empty', []],
      ...FUNCTION_NAMES.map((n) => [n, []] as [string, number[]]),
    ]);
    for (let i = 0; i < SAMPLES; i++) {
      samples.get('empty')?.push(await coldImportMs(emptyModule, env));
      for (const name of FUNCTION_NAMES) {
        samples.get(name)?.push(await coldImportMs((built.get(name) as BuiltBundle).file, env));
      }
    }
    const baselineMs = median(samples.get('empty') ?? []);

    const functions = Object.fromEntries(
      FUNCTION_NAMES.map((name) => {
        const bundle = built.get(name) as BuiltBundle;
        const importMs = median(samples.get(name) ?? []);
        return [
          name,
          {
            jsBytes: bundle.jsBytes,
            targetJsBytes: TARGET_JS_BYTES[name],
            withinTarget: bundle.jsBytes <= TARGET_JS_BYTES[name],
            wasmBytes: bundle.wasmBytes,
            wasmFiles: bundle.wasm.length,
            coldImportMsMedian: round(importMs),
            coldImportMsRange: [
              round(Math.min(...(samples.get(name) ?? []))),
              round(Math.max(...(samples.get(name) ?? []))),
            ],
            coldImportVsEmptyModule: round(importMs / baselineMs, 0),
            largestInputs: largestInputs(bundle.metafile),
          },
        ];
      }),
    );
    return {
      functions,
      emptyModuleImportMsMedian: round(baselineMs, 2),
      samplesPerFunction: SAMPLES,
      allWithinTarget: FUNCTION_NAMES.every((name) => (functions[name] as { withinTarget: boolean }).withinTarget),
      node: process.version,
      note:
        'cold import = performance.now() around import() of the built bundle in a fresh node per sample (module-scope ' +
        'init and, for decide, the wasm backend included; node startup excluded); wasm bytes ship beside ' +
        'the bundle (Node 22 loads only the -simd variant); median of the samples on a shared 2-core machine',
    };
  } finally {
    root.remove();
  }
}
