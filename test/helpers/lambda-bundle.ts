/**
 * Running built Lambda bundles (cdk/bundling.ts buildBundle) the way Lambda does: a fresh Node 22 per
 * cold start, in a directory where the only packages are the ones the nodejs22.x runtime provides.
 *
 * Why not a folder inside the project: Node resolves bare imports by walking up to every node_modules,
 * so a bundle under the project would quietly load anything esbuild left out (or a wasm backend's files)
 * from the project's node_modules, and a broken bundle would pass. Here `node_modules` holds only
 * `@aws-sdk` (a link to the project's copy, whose own dependencies resolve from where it really lives).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../cdk/bundling.ts';

/** The packages the nodejs22.x runtime provides (bundlingOptions leaves them external). */
const RUNTIME_PROVIDED = ['@aws-sdk'];

export interface LambdaLikeRoot {
  /** Build bundles into subfolders of this. */
  readonly root: string;
  remove(): void;
}

/**
 * A temporary directory with a node_modules of only the runtime-provided packages.
 * @example const root = createLambdaLikeRoot(); const built = await buildBundle('ingest', join(root.root, 'ingest'));
 */
export function createLambdaLikeRoot(): LambdaLikeRoot {
  const root = mkdtempSync(join(tmpdir(), 'sto-bundles-'));
  mkdirSync(join(root, 'node_modules'));
  for (const name of RUNTIME_PROVIDED) {
    symlinkSync(join(PROJECT_ROOT, 'node_modules', name), join(root, 'node_modules', name), 'dir');
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** What one invocation of a bundle did, as the child process reported it. */
export interface BundleInvocation {
  ok: boolean;
  /** the handler's return value */
  result?: unknown;
  /** the import's or the handler's error, with its stack */
  error?: string;
  /** the bundled TF.js engine after the invocation, or null when the bundle never loaded TF.js */
  tensorflow: { backend: string | null; registered: string[] } | null;
  node: string;
  /** what the function printed (its logs) */
  stdout: string;
  stderr: string;
}

const INVOKER = fileURLToPath(new URL('./bundle-invoker.ts', import.meta.url));

/**
 * Imports a built bundle in a fresh Node process with `env` as its whole environment (plus PATH), calls
 * its handler once with `event`, and reports what happened.
 * @example const run = await invokeBundle(built.file, makeSqsEvent([fixture]), { ...stack.env, AWS_LAMBDA_FUNCTION_NAME: 'ingest' });
 */
export async function invokeBundle(
  bundleFile: string,
  event: unknown,
  env: Readonly<Record<string, string>>,
): Promise<BundleInvocation> {
  const dir = mkdtempSync(join(tmpdir(), 'sto-invoke-'));
  try {
    const eventFile = join(dir, 'event.json');
    const reportFile = join(dir, 'report.json');
    writeFileSync(eventFile, JSON.stringify(event));
    const { stdout, stderr, failure } = await new Promise<{ stdout: string; stderr: string; failure?: Error }>(
      (resolve) => {
        execFile(
          process.execPath,
          ['--experimental-strip-types', '--no-warnings', INVOKER, bundleFile, eventFile, reportFile],
          { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, maxBuffer: 16 * 2 ** 20 },
          (error, out, err) => resolve({ stdout: out, stderr: err, failure: error ?? undefined }),
        );
      },
    );
    let report: Omit<BundleInvocation, 'stdout' | 'stderr'>;
    try {
      report = JSON.parse(readFileSync(reportFile, 'utf8'));
    } catch {
      // the child died before it could report (a bundle that does not even parse, a crash)
      report = {
        ok: false,
        error: `no report: ${failure?.message ?? 'the child exited silently'}`,
        tensorflow: null,
        node: '',
      };
    }
    return { ...report, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
