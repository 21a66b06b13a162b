/**
 * Child process of invokeBundle (lambda-bundle.ts), run by plain Node 22 (type stripping), like a cold
 * Lambda container: imports a built bundle, calls its `handler` once with the event, and writes what
 * happened and which TF.js backend the bundle ended up on to a JSON file.
 *
 * Usage: node --experimental-strip-types bundle-invoker.ts <bundle.mjs> <event.json> <report.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** tfjs-core keeps its engine on the global object, so a bundled copy can be inspected from outside. */
interface TensorflowEngine {
  backendName: string | null;
  registryFactory: Record<string, unknown>;
}

const [bundle, eventFile, reportFile] = process.argv.slice(2);
if (!bundle || !eventFile || !reportFile) {
  throw new Error('usage: bundle-invoker.ts <bundle.mjs> <event.json> <report.json>');
}
const event: unknown = JSON.parse(readFileSync(eventFile, 'utf8'));
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bundle';
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${functionName}`,
  memoryLimitInMB: '1024',
  awsRequestId: 'bundle-test-request',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'bundle-test',
  getRemainingTimeInMillis: () => 30_000,
};

let outcome: { ok: true; result: unknown } | { ok: false; error: string };
try {
  const mod = (await import(pathToFileURL(bundle).href)) as { handler?: (e: unknown, c: unknown) => unknown };
  if (typeof mod.handler !== 'function') throw new TypeError(`${bundle} exports no handler function`);
  outcome = { ok: true, result: (await mod.handler(event, context)) ?? null };
} catch (error) {
  outcome = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}
const engine = (globalThis as { _tfengine?: TensorflowEngine })._tfengine;
writeFileSync(
  reportFile,
  JSON.stringify({
    ...outcome,
    tensorflow: engine ? { backend: engine.backendName, registered: Object.keys(engine.registryFactory) } : null,
    node: process.version,
  }),
);
// the SDK's keep-alive sockets would hold the process open; a Lambda container is frozen instead
process.exit(0);
