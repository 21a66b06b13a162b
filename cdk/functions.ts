/**
 * The five Lambda functions: their size and timeout, and a construct that gives each its own log group and
 * its own role with nothing in it but what the stack grants explicitly (no managed policies). What each
 * runs and how it is bundled is cdk/bundling.ts's (entryPath, bundlingOptions): the same definition the
 * bundle tests build with.
 */
import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { type PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { QUEUES } from '#infra/resources.ts';
import { bundlingOptions, entryPath, type FunctionName, PROJECT_ROOT } from './bundling.ts';
import { DeploymentError } from './errors.ts';
import { METRICS_NAMESPACE } from './runtime-env.ts';

export { FUNCTION_NAMES, type FunctionName } from './bundling.ts';

/** How a function runs (what it runs and how it is bundled: cdk/bundling.ts). */
export interface FunctionSpec {
  readonly description: string;
  readonly memorySizeMb: number;
  readonly timeoutSeconds: number;
}

/** A queue consumer's timeout is its queue's business (the visibility timeout is derived from it). */
function consumerTimeoutSeconds(functionName: FunctionName): number {
  const queue = Object.values(QUEUES).find((q) => q.consumer.functionName === functionName);
  if (!queue) throw new DeploymentError(`no queue in infra/resources.ts has '${functionName}' as its consumer`);
  return queue.consumer.timeoutSeconds;
}

// Memory is CPU on Lambda: decide runs TF.js (wasm, one thread) on the request path and gets a full vCPU (1769 MB).
export const FUNCTIONS: Readonly<Record<FunctionName, FunctionSpec>> = {
  ingest: {
    description: 'Engagement and profile events into the users table; reward attribution',
    memorySizeMb: 512,
    timeoutSeconds: consumerTimeoutSeconds('ingest'),
  },
  decide: {
    description: 'Notification requests into decisions: channel and send time from the bandit, guardrails applied',
    memorySizeMb: 1769,
    timeoutSeconds: consumerTimeoutSeconds('decide'),
  },
  sweeper: {
    description:
      'Every minute: due sends to the dispatch queue, deferred requests back to decide, reward windows closed',
    memorySizeMb: 512,
    // under the one-minute schedule, so sweeps rarely overlap (an overlap is harmless: claims are conditional)
    timeoutSeconds: 50,
  },
  dispatch: {
    description: 'Due decisions to SES (email) and SNS (push, SMS), at most once each',
    memorySizeMb: 512,
    timeoutSeconds: consumerTimeoutSeconds('dispatch'),
  },
  learner: {
    description: 'Closed rewards into a new model version',
    memorySizeMb: 1024,
    timeoutSeconds: consumerTimeoutSeconds('learner'),
  },
};

export interface ServiceFunctionProps {
  readonly name: FunctionName;
  /** Physical name; alarms and the AppConfig rollback monitor refer to it without a reference cycle. */
  readonly functionName: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention?: RetentionDays;
}

/**
 * One function with its own log group (retention set) and its own role, which starts empty apart from
 * writing to that log group.
 * @example const decide = new ServiceFunction(this, 'Decide', { name: 'decide', functionName, environment });
 *          decide.allow(tables.model.allow(['Query']));
 */
export class ServiceFunction extends Construct {
  readonly name: FunctionName;
  readonly spec: FunctionSpec;
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.name = props.name;
    this.spec = FUNCTIONS[props.name];
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.name}: only the permissions the stack grants explicitly`,
    });
    // instead of AWSLambdaBasicExecutionRole (logs:* on every log group)
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      functionName: props.functionName,
      description: this.spec.description,
      entry: entryPath(props.name),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: this.spec.memorySizeMb,
      timeout: Duration.seconds(this.spec.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      bundling: bundlingOptions(props.name),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
    });
  }

  /** Adds statements to the function's role. */
  allow(...statements: PolicyStatement[]): void {
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);
  }
}
