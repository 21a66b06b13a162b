/**
 * Child-process entry of the local stack: runs fauxqs (SQS + SNS) and aws-ses-v2-local (SES v1/v2)
 * on 127.0.0.1 with ports the OS picks, prints one ready line, and exits as soon as its stdin closes,
 * which happens when the parent dies, however it dies (even SIGKILL): no orphaned emulators.
 *
 * Why a separate process and not in the test's process: the emulators' timers must not stop under a
 * test's fake timers, their CPU must not compete with the handlers on one event loop, and
 * aws-ses-v2-local keeps its inbox in a module-global store, so one process per stack is one inbox
 * per stack.
 *
 * Run by local/stack.ts with Node's type stripping: erasable TypeScript only in this file.
 */

import sesModule from 'aws-ses-v2-local';
import { buildApp } from 'fauxqs';
import { type EmulatorHostReady, ERROR_MARK, READY_MARK } from './emulator-protocol.ts';

type FauxqsStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/**
 * fauxqs names queues `http://sqs.<region>.localhost:<port>/...`. Most resolvers do not resolve
 * `*.localhost` (this machine's does not), and an SQSClient configured from AWS_ENDPOINT_URL_SQS
 * (not an explicit `endpoint`) sends each call to its QueueUrl's host: ENOTFOUND. With the store's
 * `host` empty, fauxqs uses the request's Host header instead, i.e. http://127.0.0.1:<port>/...
 * The stores are not exported by the package, hence the import by file URL; if a fauxqs release
 * moves them we fall back to its default URLs (clients with an explicit endpoint still work) and
 * say so in the ready line, which a test checks.
 */
async function fauxqsStores(): Promise<FauxqsStores | undefined> {
  try {
    const app = import.meta.resolve('fauxqs');
    const [{ SqsStore }, { SnsStore }, { S3Store }] = await Promise.all([
      import(new URL('./sqs/sqsStore.js', app).href),
      import(new URL('./sns/snsStore.js', app).href),
      import(new URL('./s3/s3Store.js', app).href),
    ]);
    const sqsStore = new SqsStore();
    if (typeof sqsStore.host !== 'string') return undefined;
    sqsStore.host = '';
    return { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const stores = await fauxqsStores();
  const sqs = buildApp({ logger: false, ...(stores && { stores }) });
  await sqs.listen({ port: 0, host: '127.0.0.1' });
  const sqsAddress = sqs.server.address();
  // aws-ses-v2-local is CommonJS: its `exports.default` is the server factory
  const ses = await sesModule.default({ port: 0, host: '127.0.0.1' });
  const sesAddress = ses.address();
  if (!sqsAddress || typeof sqsAddress === 'string' || !sesAddress || typeof sesAddress === 'string') {
    throw new Error('emulators did not report a TCP port');
  }
  const ready: EmulatorHostReady = {
    sqsPort: sqsAddress.port,
    sesPort: sesAddress.port,
    reachableQueueUrls: stores !== undefined,
  };
  process.stdout.write(`${READY_MARK}${JSON.stringify(ready)}\n`);
}

// the parent holds the only write end of our stdin: EOF means the parent is gone
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));

main().catch((error: unknown) => {
  process.stdout.write(`${ERROR_MARK}${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
