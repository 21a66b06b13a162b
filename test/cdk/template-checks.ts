/**
 * Checks over a synthesized CloudFormation template, each over every resource of its type (never one
 * hard-coded resource): a check returns the problems it finds, one line each, and an empty list when the
 * template keeps the promise. test/cdk/stack.test.ts runs each on the stack and on a broken copy, so a
 * check that stopped looking would fail there too.
 */

export type Properties = Record<string, unknown>;

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Properties;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export interface CfnTemplate {
  readonly Resources: Record<string, TemplateResource>;
  readonly Outputs?: Record<string, { Value: unknown; Description?: string }>;
  readonly Parameters?: Record<string, unknown>;
}

/** `[logicalId, properties]` of every resource of a type. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, Properties][] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);
}

/** The logical id in `{ "Fn::GetAtt": [id, attribute] }`, or undefined for anything else. */
export function getAttId(value: unknown, attribute: string): string | undefined {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (!Array.isArray(getAtt) || getAtt[1] !== attribute) return undefined;
  return typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
}

/** The logical id in `{ "Ref": id }`, or undefined for anything else. */
export function refId(value: unknown): string | undefined {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  return typeof ref === 'string' ? ref : undefined;
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

// ---------------------------------------------------------------------------------------------
// SQS
// ---------------------------------------------------------------------------------------------

interface RedrivePolicy {
  readonly deadLetterTargetArn?: unknown;
  readonly maxReceiveCount?: unknown;
}

/** Queues some other queue's RedrivePolicy points at. */
export function deadLetterQueueIds(template: CfnTemplate): Set<string> {
  const ids = resourcesOfType(template, 'AWS::SQS::Queue')
    .map(([, props]) => getAttId((props.RedrivePolicy as RedrivePolicy | undefined)?.deadLetterTargetArn, 'Arn'))
    .filter((id): id is string => id !== undefined);
  return new Set(ids);
}

/** Queues that are nobody's DLQ: the ones producers, the sweeper or the functions send work to. */
export function workQueueIds(template: CfnTemplate): string[] {
  const deadLetters = deadLetterQueueIds(template);
  return resourcesOfType(template, 'AWS::SQS::Queue')
    .map(([id]) => id)
    .filter((id) => !deadLetters.has(id));
}

interface Statement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Principal?: unknown;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

function statementsOf(document: unknown): Statement[] {
  return asArray((document as { Statement?: unknown } | undefined)?.Statement) as Statement[];
}

/** A statement that refuses every SQS action on the queue to any caller not on TLS. */
function deniesInsecureTransport(statement: Statement, queueId: string): boolean {
  const principal = statement.Principal;
  const anyone = principal === '*' || asArray((principal as { AWS?: unknown } | undefined)?.AWS).includes('*');
  const actions = asArray(statement.Action);
  const secureTransport = statement.Condition?.Bool?.['aws:SecureTransport'];
  return (
    statement.Effect === 'Deny' &&
    anyone &&
    (actions.includes('sqs:*') || actions.includes('*')) &&
    (secureTransport === 'false' || secureTransport === false) &&
    asArray(statement.Resource).some((resource) => getAttId(resource, 'Arn') === queueId)
  );
}

/**
 * Every queue: SSE (SQS-managed or KMS) and a queue policy denying aws:SecureTransport=false. Every queue
 * that is not a DLQ: a RedrivePolicy to another queue of the template with a maxReceiveCount.
 */
export function queueProblems(template: CfnTemplate): string[] {
  const problems: string[] = [];
  const queues = resourcesOfType(template, 'AWS::SQS::Queue');
  const queueIds = new Set(queues.map(([id]) => id));
  const deadLetters = deadLetterQueueIds(template);
  const policies = resourcesOfType(template, 'AWS::SQS::QueuePolicy');
  for (const [id, props] of queues) {
    if (props.SqsManagedSseEnabled !== true && props.KmsMasterKeyId === undefined) {
      problems.push(`${id}: no server-side encryption (SqsManagedSseEnabled or KmsMasterKeyId)`);
    }
    const tlsOnly = policies.some(
      ([, policy]) =>
        asArray(policy.Queues).some((queue) => refId(queue) === id) &&
        statementsOf(policy.PolicyDocument).some((statement) => deniesInsecureTransport(statement, id)),
    );
    if (!tlsOnly) problems.push(`${id}: no queue policy denies aws:SecureTransport=false`);
    if (deadLetters.has(id)) continue;
    const redrive = props.RedrivePolicy as RedrivePolicy | undefined;
    if (!redrive) {
      problems.push(`${id}: not a DLQ, yet no RedrivePolicy`);
      continue;
    }
    const target = getAttId(redrive.deadLetterTargetArn, 'Arn');
    if (!target || !queueIds.has(target) || target === id) {
      problems.push(`${id}: RedrivePolicy does not target another queue of the stack`);
    }
    const { maxReceiveCount } = redrive;
    if (typeof maxReceiveCount !== 'number' || !Number.isInteger(maxReceiveCount) || maxReceiveCount < 1) {
      problems.push(`${id}: RedrivePolicy maxReceiveCount is ${JSON.stringify(maxReceiveCount)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Lambda and its SQS event sources
// ---------------------------------------------------------------------------------------------

/** CloudFormation's defaults when the property is absent. */
const DEFAULT_LAMBDA_TIMEOUT_SECONDS = 3;
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;

function mappingFunctionId(props: Properties): string | undefined {
  return refId(props.FunctionName) ?? getAttId(props.FunctionName, 'Arn');
}

/**
 * Each SQS-fed queue's VisibilityTimeout is at least 6 x the Timeout of the function its event source
 * mapping invokes; every queue that is not a DLQ has such a consumer.
 */
export function visibilityProblems(template: CfnTemplate): string[] {
  const problems: string[] = [];
  const queues = new Map(resourcesOfType(template, 'AWS::SQS::Queue'));
  const functions = new Map(resourcesOfType(template, 'AWS::Lambda::Function'));
  const consumed = new Set<string>();
  for (const [id, mapping] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
    const queueId = getAttId(mapping.EventSourceArn, 'Arn');
    const queue = queueId === undefined ? undefined : queues.get(queueId);
    if (!queueId || !queue) continue; // not an SQS source of this stack
    consumed.add(queueId);
    const functionId = mappingFunctionId(mapping);
    const fn = functionId === undefined ? undefined : functions.get(functionId);
    if (!fn) {
      problems.push(`${id}: invokes no function of the stack`);
      continue;
    }
    const timeout = (fn.Timeout as number | undefined) ?? DEFAULT_LAMBDA_TIMEOUT_SECONDS;
    const visibility = (queue.VisibilityTimeout as number | undefined) ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
    if (visibility < 6 * timeout) {
      problems.push(`${queueId}: VisibilityTimeout ${visibility} < 6 x ${functionId} Timeout ${timeout}`);
    }
  }
  for (const queueId of workQueueIds(template)) {
    if (!consumed.has(queueId)) problems.push(`${queueId}: no Lambda event source mapping consumes it`);
  }
  return problems;
}

/** Every event source mapping reports partial batch failures. */
export function eventSourceMappingProblems(template: CfnTemplate): string[] {
  return resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')
    .filter(([, props]) => JSON.stringify(props.FunctionResponseTypes) !== JSON.stringify(['ReportBatchItemFailures']))
    .map(([id, props]) => `${id}: FunctionResponseTypes ${JSON.stringify(props.FunctionResponseTypes)}`);
}

/** Every function runs nodejs22.x on arm64. */
export function lambdaProblems(template: CfnTemplate): string[] {
  const problems: string[] = [];
  for (const [id, props] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    if (props.Runtime !== 'nodejs22.x') problems.push(`${id}: Runtime ${JSON.stringify(props.Runtime)}`);
    if (JSON.stringify(props.Architectures) !== JSON.stringify(['arm64'])) {
      problems.push(`${id}: Architectures ${JSON.stringify(props.Architectures)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------------------------

/** What the template must say of one table (from infra/resources.ts). */
export interface ExpectedTable {
  readonly timeToLiveAttribute?: string;
  readonly retainOnDelete: boolean;
}

/**
 * Every table: on-demand, PITR, SSE, TTL exactly where `expected` has one, Retain where expected; and
 * every table of the template is one of `expected` (by logical id).
 */
export function tableProblems(template: CfnTemplate, expected: Readonly<Record<string, ExpectedTable>>): string[] {
  const problems: string[] = [];
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
  for (const [id, props] of tables) {
    const definition = expected[id];
    if (!definition) {
      problems.push(`${id}: a table infra/resources.ts does not define`);
      continue;
    }
    if (props.BillingMode !== 'PAY_PER_REQUEST') problems.push(`${id}: BillingMode ${String(props.BillingMode)}`);
    const pitr = props.PointInTimeRecoverySpecification as { PointInTimeRecoveryEnabled?: unknown } | undefined;
    if (pitr?.PointInTimeRecoveryEnabled !== true) problems.push(`${id}: point-in-time recovery not enabled`);
    const sse = props.SSESpecification as { SSEEnabled?: unknown } | undefined;
    if (sse?.SSEEnabled !== true) problems.push(`${id}: SSESpecification.SSEEnabled is not true`);
    const ttl = props.TimeToLiveSpecification as { AttributeName?: unknown; Enabled?: unknown } | undefined;
    if (definition.timeToLiveAttribute === undefined) {
      if (ttl) problems.push(`${id}: TTL on ${String(ttl.AttributeName)}, which infra/resources.ts does not define`);
    } else if (ttl?.AttributeName !== definition.timeToLiveAttribute || ttl.Enabled !== true) {
      problems.push(`${id}: TTL on ${definition.timeToLiveAttribute} expected, got ${JSON.stringify(ttl)}`);
    }
    const policy = template.Resources[id].DeletionPolicy;
    if (definition.retainOnDelete && policy !== 'Retain') problems.push(`${id}: DeletionPolicy ${policy}, not Retain`);
  }
  for (const id of Object.keys(expected)) {
    if (!tables.some(([tableId]) => tableId === id)) problems.push(`${id}: missing from the template`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// IAM
// ---------------------------------------------------------------------------------------------

/** One statement of an identity policy, with the roles the policy is attached to. */
export interface IdentityStatement {
  /** Logical id of the AWS::IAM::Policy / ManagedPolicy / Role holding it. */
  readonly policyId: string;
  readonly roleIds: readonly string[];
  readonly statement: Statement;
}

/** Every statement of every identity policy: AWS::IAM::Policy, ManagedPolicy, and roles' inline policies. */
export function identityStatements(template: CfnTemplate): IdentityStatement[] {
  const found: IdentityStatement[] = [];
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [policyId, props] of resourcesOfType(template, type)) {
      const roleIds = asArray(props.Roles)
        .map(refId)
        .filter((id): id is string => id !== undefined);
      for (const statement of statementsOf(props.PolicyDocument)) found.push({ policyId, roleIds, statement });
    }
  }
  for (const [roleId, props] of resourcesOfType(template, 'AWS::IAM::Role')) {
    for (const policy of asArray(props.Policies) as { PolicyDocument?: unknown }[]) {
      for (const statement of statementsOf(policy.PolicyDocument)) {
        found.push({ policyId: roleId, roleIds: [roleId], statement });
      }
    }
  }
  return found;
}

const SERVICE_WILDCARD = /^[A-Za-z0-9-]+:\*$/;

/** The one statement allowed to name Resource '*': these actions, in this role's policy alone. */
export interface WildcardResourceException {
  readonly roleId: string;
  readonly actions: readonly string[];
}

/**
 * Allow statements: no Action '*', no service wildcard (`dynamodb:*`), no NotAction / NotResource, and
 * Resource '*' only in the acknowledged exception.
 */
export function iamProblems(template: CfnTemplate, exception: WildcardResourceException): string[] {
  const problems: string[] = [];
  for (const { policyId, roleIds, statement } of identityStatements(template)) {
    if (statement.Effect !== 'Allow') continue;
    const where = `${policyId}${statement.Sid ? ` (${statement.Sid})` : ''}`;
    if (statement.NotAction !== undefined) problems.push(`${where}: NotAction allows everything else`);
    if (statement.NotResource !== undefined) problems.push(`${where}: NotResource allows everything else`);
    const actions = asArray(statement.Action).map(String);
    for (const action of actions) {
      if (action === '*' || SERVICE_WILDCARD.test(action)) problems.push(`${where}: Action ${action}`);
    }
    if (asArray(statement.Resource).includes('*')) {
      const isException =
        JSON.stringify(roleIds) === JSON.stringify([exception.roleId]) &&
        JSON.stringify([...actions].sort()) === JSON.stringify([...exception.actions].sort());
      if (!isException) problems.push(`${where}: Resource '*' for ${actions.join(', ')}`);
    }
  }
  return problems;
}

/** The Allow statements whose Resource includes '*'. */
export function wildcardResourceStatements(template: CfnTemplate): IdentityStatement[] {
  return identityStatements(template).filter(
    ({ statement }) => statement.Effect === 'Allow' && asArray(statement.Resource).includes('*'),
  );
}

// ---------------------------------------------------------------------------------------------
// CloudWatch
// ---------------------------------------------------------------------------------------------

interface AlarmMetric {
  readonly alarmId: string;
  readonly namespace: unknown;
  readonly metricName: unknown;
  readonly dimensions: ReadonlyMap<unknown, unknown>;
}

function dimensionMap(dimensions: unknown): Map<unknown, unknown> {
  return new Map((asArray(dimensions) as { Name?: unknown; Value?: unknown }[]).map((d) => [d.Name, d.Value]));
}

/** The metrics an alarm watches: the single-metric form, or each MetricStat of the Metrics form. */
export function alarmMetrics(template: CfnTemplate): AlarmMetric[] {
  const metrics: AlarmMetric[] = [];
  for (const [alarmId, props] of resourcesOfType(template, 'AWS::CloudWatch::Alarm')) {
    if (props.MetricName !== undefined) {
      metrics.push({
        alarmId,
        namespace: props.Namespace,
        metricName: props.MetricName,
        dimensions: dimensionMap(props.Dimensions),
      });
    }
    for (const query of asArray(props.Metrics) as { MetricStat?: { Metric?: Properties } }[]) {
      const metric = query.MetricStat?.Metric;
      if (!metric) continue;
      metrics.push({
        alarmId,
        namespace: metric.Namespace,
        metricName: metric.MetricName,
        dimensions: dimensionMap(metric.Dimensions),
      });
    }
  }
  return metrics;
}

/** The alarm fires on the first message (depth > 0, or >= 1). */
function firesOnFirstMessage(props: Properties): boolean {
  return (
    (props.ComparisonOperator === 'GreaterThanThreshold' && props.Threshold === 0) ||
    (props.ComparisonOperator === 'GreaterThanOrEqualToThreshold' && props.Threshold === 1)
  );
}

/**
 * An alarm on each DLQ's depth (firing on its first message), on each work queue's
 * ApproximateAgeOfOldestMessage, and on each function's Errors but the `unwatched` ones (functions no
 * alarm can serve, such as a custom resource's handler that runs while the stack, alarms included, is
 * being deleted).
 */
export function alarmProblems(template: CfnTemplate, unwatched: readonly string[] = []): string[] {
  const problems: string[] = [];
  const metrics = alarmMetrics(template);
  const alarms = new Map(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));
  const watching = (namespace: string, metricName: string, dimension: string, matches: (value: unknown) => boolean) =>
    metrics.filter(
      (m) => m.namespace === namespace && m.metricName === metricName && matches(m.dimensions.get(dimension)),
    );
  for (const id of deadLetterQueueIds(template)) {
    const found = watching('AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', (value) => {
      return getAttId(value, 'QueueName') === id;
    });
    if (!found.some((m) => firesOnFirstMessage(alarms.get(m.alarmId) ?? {}))) {
      problems.push(`${id}: no alarm on the DLQ's depth that fires on its first message`);
    }
  }
  for (const id of workQueueIds(template)) {
    const found = watching('AWS/SQS', 'ApproximateAgeOfOldestMessage', 'QueueName', (value) => {
      return getAttId(value, 'QueueName') === id;
    });
    if (found.length === 0) problems.push(`${id}: no alarm on ApproximateAgeOfOldestMessage`);
  }
  for (const [id, props] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    if (unwatched.includes(id)) continue;
    const found = watching('AWS/Lambda', 'Errors', 'FunctionName', (value) => {
      return value === props.FunctionName || refId(value) === id;
    });
    if (found.length === 0) problems.push(`${id}: no alarm on its Errors`);
  }
  return problems;
}
