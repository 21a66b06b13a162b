/**
 * How every Lambda is bundled: the one definition that the CDK stack hands to `NodejsFunction` (its
 * `bundling` prop) and that the tests and benchmarks build with esbuild's JS API (`buildBundle`), so the
 * artifact a test imports is the artifact `cdk deploy` uploads.
 *
 * Choices, briefly:
 * - ESM, `node22`, minified, no source map: the smallest file and the fastest cold import. Minifying
 *   renames classes; the error classes set their `name` by hand, so logs still name them.
 * - `mainFields: module, main`: TF.js backends register themselves by a side-effect import, which esbuild
 *   silently drops when it resolves the CommonJS `main` of a package marked side-effect free.
 * - `@aws-sdk/*` is external: the nodejs22.x runtime ships SDK v3. `node-fetch` is external too: tfjs-core
 *   `require`s it lazily, only where `globalThis.fetch` is missing (never on Node >= 18); bundled, it
 *   would cost 300 kB of Unicode tables (tr46) in every TF.js function.
 * - The banner gives the ESM bundle what CommonJS dependencies expect: `require` (tfjs-core's node
 *   platform, the wasm backend's Emscripten glue) and `__dirname` / `__filename` (the glue locates its
 *   .wasm files with them). Its imports are aliased so they cannot collide with the bundle's own.
 * - Functions that run TF.js get the wasm backend's binaries copied next to their bundle by a command hook
 *   (`afterBundling`); model/bandit/backend.ts looks there first. Without them, TF.js falls back to the
 *   5-50x slower cpu backend, which test/cdk/bundles.test.ts refuses.
 *
 * No aws-cdk-lib at run time here (type imports only): tests and benchmarks load this file, not the CDK.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundlingOptions, ICommandHooks, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions, Charset, Loader, LogLevel, Metafile } from 'esbuild';

/**
 * A bundling definition that cannot be built: names the function or option and the reason.
 * (Kept here rather than in cdk/errors.ts: this file is loaded by tests and benchmarks without the CDK app.)
 */
export class BundlingDefinitionError extends Error {
  /** The function or the bundling option at fault. */
  readonly subject: string;

  constructor(subject: string, reason: string, options?: ErrorOptions) {
    super(`bundling '${subject}': ${reason}`, options);
    this.name = 'BundlingDefinitionError';
    this.subject = subject;
  }
}

/** The project root: where package.json, the lock file and node_modules are. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One Lambda function's bundle. */
export interface FunctionBundleDefinition {
  /** Entry file, relative to PROJECT_ROOT; it exports `handler`. */
  readonly entry: string;
  /** The entry initialises TF.js (model/bandit/backend.ts): the wasm backend's .wasm files ship with it. */
  readonly tensorflowWasm: boolean;
}

/** Every Lambda function of the stack, by the name infra/resources.ts gives its consumer. */
export const FUNCTIONS = {
  ingest: { entry: 'lambdas/ingest/index.ts', tensorflowWasm: false },
  decide: { entry: 'lambdas/decide/index.ts', tensorflowWasm: true },
  dispatch: { entry: 'lambdas/dispatch/index.ts', tensorflowWasm: false },
  learner: { entry: 'lambdas/learner/index.ts', tensorflowWasm: false },
  sweeper: { entry: 'lambdas/sweeper/index.ts', tensorflowWasm: false },
} as const satisfies Record<string, FunctionBundleDefinition>;

export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** Where the wasm backend keeps its binaries, relative to the project root (the hook's input dir). */
export const TFJS_WASM_SOURCE_DIR = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';

/** The ESM banner: `require`, `__filename` and `__dirname` for the CommonJS code inside the bundle. */
export const ESM_BANNER = [
  "import { createRequire as __stoCreateRequire } from 'node:module';",
  "import { dirname as __stoDirname } from 'node:path';",
  "import { fileURLToPath as __stoFileURLToPath } from 'node:url';",
  'const require = __stoCreateRequire(import.meta.url);',
  'const __filename = __stoFileURLToPath(import.meta.url);',
  'const __dirname = __stoDirname(__filename);',
].join(' ');

/** Modules left out of every bundle (see the module comment for why each). */
export const EXTERNAL_MODULES: readonly string[] = ['@aws-sdk/*', 'node-fetch'];

// the enums' values, without loading aws-cdk-lib (its enums are plain string enums)
const ESM = 'esm' as OutputFormat.ESM;

/** Quotes a path for bash (the hooks run under `bash -c`, locally and in CDK's Docker image alike). */
function shellQuote(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}

/** Copies the wasm backend's binaries next to the bundle; fails the build when there are none. */
const copyTensorflowWasm: ICommandHooks = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  // an unmatched glob stays literal, so cp fails and so does the deployment: never a bundle without them
  afterBundling: (inputDir, outputDir) => [
    `cp ${shellQuote(`${inputDir}/${TFJS_WASM_SOURCE_DIR}`)}/*.wasm ${shellQuote(outputDir)}/`,
  ],
};

function definition(name: string): FunctionBundleDefinition {
  if (!Object.hasOwn(FUNCTIONS, name)) {
    throw new BundlingDefinitionError(name, `no such function; known: ${FUNCTION_NAMES.join(', ')}`);
  }
  return FUNCTIONS[name as FunctionName];
}

/**
 * The absolute path of a function's entry file (NodejsFunction's `entry`).
 * @example new NodejsFunction(this, 'Ingest', { entry: entryPath('ingest'), bundling: bundlingOptions('ingest') })
 */
export function entryPath(name: FunctionName): string {
  return join(PROJECT_ROOT, definition(name).entry);
}

/**
 * The NodejsFunction `bundling` props of a function (runtime nodejs22.x). The wasm copy hook reads
 * node_modules under the bundling input dir, i.e. NodejsFunction's `projectRoot`: leave it at its
 * default (the lock file's folder) or set it to PROJECT_ROOT.
 * @example new NodejsFunction(this, 'Decide', { entry: entryPath('decide'), runtime: Runtime.NODEJS_22_X, bundling: bundlingOptions('decide') })
 */
export function bundlingOptions(name: FunctionName): BundlingOptions {
  const fn = definition(name);
  return {
    format: ESM,
    target: 'node22',
    minify: true,
    sourceMap: false,
    mainFields: ['module', 'main'],
    externalModules: [...EXTERNAL_MODULES],
    banner: ESM_BANNER,
    forceDockerBundling: false,
    ...(fn.tensorflowWasm && { commandHooks: copyTensorflowWasm }),
  };
}

/** BundlingOptions keys that only concern CDK's Docker bundling or asset staging, not esbuild's output. */
const CDK_ONLY_KEYS = new Set(['forceDockerBundling', 'assetHash', 'bundlingFileAccess', 'esbuildVersion']);
/** BundlingOptions keys esbuildBuildOptions translates, as CDK turns them into esbuild arguments. */
const TRANSLATED_KEYS = new Set([
  'format',
  'target',
  'minify',
  'sourceMap',
  'sourceMapMode',
  'sourcesContent',
  'externalModules',
  'loader',
  'define',
  'logLevel',
  'keepNames',
  'tsconfig',
  'metafile',
  'banner',
  'footer',
  'charset',
  'mainFields',
  'inject',
  'commandHooks',
]);

/**
 * The esbuild JS-API options equivalent to the command line CDK builds from `options` (aws-cdk-lib
 * 2.276, aws-lambda-nodejs/lib/bundling.ts): same flags, same output file name. An option this
 * translation does not know is refused rather than silently built differently from the deployment.
 * @example await esbuild.build(esbuildBuildOptions('lambdas/ingest/index.ts', bundlingOptions('ingest'), '/tmp/out'));
 */
export function esbuildBuildOptions(entry: string, options: BundlingOptions, outDir: string): BuildOptions {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || CDK_ONLY_KEYS.has(key) || TRANSLATED_KEYS.has(key)) continue;
    throw new BundlingDefinitionError(key, 'has no esbuild translation here: add one before using it');
  }
  if (options.sourceMap === false && options.sourceMapMode) {
    throw new BundlingDefinitionError('sourceMapMode', 'cannot be used when sourceMap is false (CDK refuses it)');
  }
  const sourceMapMode = options.sourceMapMode ?? (options.sourceMap ? 'default' : undefined);
  const format = options.format ?? 'cjs';
  return {
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [resolve(PROJECT_ROOT, entry)],
    bundle: true,
    platform: 'node',
    // CDK derives the target from the runtime when unset; ours is always set
    target: options.target ?? 'node22',
    format,
    outfile: join(outDir, format === 'esm' ? 'index.mjs' : 'index.js'),
    minify: options.minify ?? false,
    ...(sourceMapMode && { sourcemap: sourceMapMode === 'default' ? true : sourceMapMode }),
    sourcesContent: options.sourcesContent ?? true,
    // CDK's default for the nodejs22.x runtime
    external: [...(options.externalModules ?? ['@aws-sdk/*'])],
    loader: options.loader as Record<string, Loader> | undefined,
    define: options.define,
    logLevel: (options.logLevel as LogLevel | undefined) ?? 'warning',
    keepNames: options.keepNames ?? false,
    ...(options.tsconfig && { tsconfig: resolve(PROJECT_ROOT, options.tsconfig) }),
    // the metafile only describes the build (sizes per input); it does not change the output
    metafile: true,
    ...(options.banner && { banner: { js: options.banner } }),
    ...(options.footer && { footer: { js: options.footer } }),
    ...(options.charset && { charset: options.charset as Charset }),
    ...(options.mainFields && { mainFields: options.mainFields }),
    ...(options.inject && { inject: options.inject }),
  };
}

/** A file of a built bundle and its size. */
export interface BundleFile {
  readonly path: string;
  readonly bytes: number;
}

/** What buildBundle produced. */
export interface BuiltBundle {
  readonly name: FunctionName;
  /** The bundle itself (index.mjs): import it and call its `handler`. */
  readonly file: string;
  readonly jsBytes: number;
  /** The .wasm files next to the bundle (none for functions without TF.js). */
  readonly wasm: readonly BundleFile[];
  readonly wasmBytes: number;
  /** esbuild's description of the build: which input contributed how many bytes. */
  readonly metafile: Metafile;
}

/** Runs a command hook's commands as CDK's local bundling does: `bash -c`, in the project root. */
function runHookCommands(commands: readonly string[]): void {
  for (const command of commands) {
    try {
      execFileSync('bash', ['-c', command], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (cause) {
      const stderr = (cause as { stderr?: Buffer }).stderr?.toString().trim();
      throw new BundlingDefinitionError('commandHooks', `'${command}' failed: ${stderr || 'no output'}`, { cause });
    }
  }
}

/**
 * Builds a function's bundle into `outDir` exactly as the CDK stack does: esbuild with
 * bundlingOptions(name), then its command hooks (which copy the wasm files for the TF.js functions).
 * @example const built = await buildBundle('decide', '/tmp/bundles/decide'); const { handler } = await import(built.file);
 */
export async function buildBundle(name: FunctionName, outDir: string): Promise<BuiltBundle> {
  const fn = definition(name);
  const options = bundlingOptions(name);
  const absoluteOutDir = resolve(outDir);
  mkdirSync(absoluteOutDir, { recursive: true });
  const hooks = options.commandHooks;
  runHookCommands(hooks?.beforeBundling(PROJECT_ROOT, absoluteOutDir) ?? []);
  // esbuild is a devDependency: loaded only when a bundle is built, never by the CDK app's synth path
  const esbuild = await import('esbuild');
  const build = esbuildBuildOptions(fn.entry, options, absoluteOutDir);
  const result = await esbuild.build(build);
  runHookCommands(hooks?.afterBundling(PROJECT_ROOT, absoluteOutDir) ?? []);
  const file = build.outfile as string;
  const wasm = readdirSync(absoluteOutDir)
    .filter((entry) => entry.endsWith('.wasm'))
    .sort()
    .map((entry) => ({ path: join(absoluteOutDir, entry), bytes: statSync(join(absoluteOutDir, entry)).size }));
  return {
    name,
    file,
    jsBytes: statSync(file).size,
    wasm,
    wasmBytes: wasm.reduce((sum, w) => sum + w.bytes, 0),
    metafile: result.metafile as Metafile,
  };
}
