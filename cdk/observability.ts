/**
 * Alarms and the dashboard. Everything refers to the functions by their physical names, never by a
 * reference to the function resources: the rollback alarm is watched by the AppConfig environment whose
 * id the functions receive, so a reference back to them would be a dependency cycle.
 *
 * Alarms (each notifies the optional `alarmEmail` topic):
 * - every DLQ holding a message (something was refused or kept failing; docs/deploy.md says what to do);
 * - every work queue whose oldest message has waited through about two failed attempts (a backlog or a
 *   poison batch);
 * - every function's errors (unhandled: a crash or a timeout, not a record handed back to SQS) and throttles.
 * The function error alarms together make the rollback alarm of config deployments.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  AlarmStatusWidget,
  ComparisonOperator,
  CompositeAlarm,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { QUEUE_NAMES, type QueueDefinition } from '#infra/resources.ts';
import { FUNCTION_NAMES, type FunctionName } from './functions.ts';
import { pascalCase } from './names.ts';
import type { MessageQueues } from './queues.ts';
import { METRICS_NAMESPACE } from './runtime-env.ts';

/** SQS's largest DelaySeconds: the sweeper delays dispatch messages up to their send instant. */
const MAX_DELAY_SECONDS = 900;

/**
 * The oldest-message age (seconds) past which a queue alarms: two visibility timeouts (a message failed
 * at least twice, or the consumer falls behind), plus the longest delay for the dispatch queue, whose
 * messages are sent ahead of their send instant.
 * @example oldestMessageAlarmSeconds(QUEUES.events) // 362
 */
export function oldestMessageAlarmSeconds(queue: QueueDefinition): number {
  return 2 * queue.visibilityTimeoutSeconds + (queue.logicalName === 'dispatch' ? MAX_DELAY_SECONDS : 0);
}

/**
 * The custom metrics the dashboard charts, by name (namespace METRICS_NAMESPACE; every one also has the
 * dimension `service`, the function's name). Charted with SEARCH over the name alone, so each combination
 * of the dimensions below is its own line, and a dimension added later breaks no chart. Every name is
 * emitted by the function named (lambdas/<function>/handler.ts; test/cdk/stack.test.ts checks the names).
 */
export const CUSTOM_METRICS = {
  decisions: 'Decisions', // decide, count: dimensions policy (bandit | holdout), channel, status
  duplicateRequests: 'DuplicateRequests', // decide, count
  sendsEnqueued: 'SendsEnqueued', // sweeper, count
  sweepLateness: 'SweepLatenessMax', // sweeper, milliseconds
  rewardsClosed: 'RewardsClosed', // sweeper, count
  sends: 'Sends', // dispatch, count: dimensions channel (email | push | sms | none), outcome (sent | maybe_sent | failed | stopped)
  sendsStopped: 'SendsStopped', // dispatch, count: a guardrail stopped the send at send time, dimension reason
  noArmPrefix: 'NoArm', // decide, count: NoArm_<reason>, a guardrail masked every arm
  rewardsApplied: 'RewardsApplied', // learner, count
  rewardDuplicatesSkipped: 'RewardDuplicatesSkipped', // learner, count: rewards the model already had
  reward: 'Reward', // sweeper, no unit: one value per closed decision, its reward; dimension policy (bandit | holdout)
} as const;

export interface ObservabilityProps {
  readonly queues: MessageQueues;
  /** Physical function names. */
  readonly functionNames: Readonly<Record<FunctionName, string>>;
  readonly dashboardName: string;
  readonly alarmEmail?: string;
}

function lambdaMetric(functionName: string, metricName: string, statistic: string, period = Duration.minutes(1)) {
  return new Metric({
    namespace: 'AWS/Lambda',
    metricName,
    dimensionsMap: { FunctionName: functionName },
    statistic,
    period,
    label: functionName,
  });
}

function search(expression: string, statistic: string, label: string, periodSeconds = 300): IMetric {
  return new MathExpression({
    expression: `SEARCH('Namespace="${METRICS_NAMESPACE}" ${expression}', '${statistic}', ${periodSeconds})`,
    usingMetrics: {},
    label,
    period: Duration.seconds(periodSeconds),
  });
}

/**
 * The alarms, the optional alarm topic, the rollback alarm of config deployments, and the dashboard.
 * @example const observability = new Observability(this, 'Observability', { queues, functionNames, dashboardName });
 */
export class Observability extends Construct {
  readonly alarms: Alarm[] = [];
  readonly functionErrorAlarms: Alarm[] = [];
  readonly rollbackAlarm: CompositeAlarm;
  readonly dashboard: Dashboard;
  readonly alarmTopic?: Topic;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { queues, functionNames } = props;

    for (const name of QUEUE_NAMES) {
      const { queue, deadLetterQueue, definition } = queues[name];
      this.alarms.push(
        new Alarm(this, `${pascalCase(name)}DeadLetters`, {
          alarmDescription: `${name} DLQ holds messages: refused or repeatedly failing records (docs/deploy.md)`,
          metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: Duration.minutes(1),
          }),
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          threshold: 0,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        new Alarm(this, `${pascalCase(name)}OldestMessage`, {
          alarmDescription: `${name} queue: a message has waited longer than two attempts (backlog or failing batch)`,
          metric: queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: Duration.minutes(1) }),
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          threshold: oldestMessageAlarmSeconds(definition),
          evaluationPeriods: 3,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    for (const name of FUNCTION_NAMES) {
      const functionName = functionNames[name];
      const errors = new Alarm(this, `${pascalCase(name)}Errors`, {
        alarmDescription: `${name}: invocations failed (crash or timeout) in 2 of the last 5 minutes`,
        metric: lambdaMetric(functionName, 'Errors', 'Sum'),
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 5,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const throttles = new Alarm(this, `${pascalCase(name)}Throttles`, {
        alarmDescription: `${name}: invocations throttled (account or reserved concurrency exhausted)`,
        metric: lambdaMetric(functionName, 'Throttles', 'Sum', Duration.minutes(5)),
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.functionErrorAlarms.push(errors);
      this.alarms.push(errors, throttles);
    }

    // A config that breaks the functions shows as errors: any of them during a rollout rolls the config back.
    this.rollbackAlarm = new CompositeAlarm(this, 'ConfigRollback', {
      alarmDescription: "Any function failing: AppConfig rolls back an analysts' config deployment in progress",
      alarmRule: AlarmRule.anyOf(...this.functionErrorAlarms.map((a) => AlarmRule.fromAlarm(a, AlarmState.ALARM))),
    });

    if (props.alarmEmail) {
      this.alarmTopic = this.createAlarmTopic(props.alarmEmail);
      const action = new SnsAction(this.alarmTopic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    this.dashboard = this.createDashboard(props);
  }

  private createAlarmTopic(email: string): Topic {
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the alarm notification topic',
      enableKeyRotation: true,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    const subscription = topic.addSubscription(new EmailSubscription(email));
    Validations.of(subscription).acknowledge({
      id: 'Serverless-SNSRedrivePolicy',
      reason:
        'Email subscription to alarm notifications: an undelivered email is not worth replaying from a DLQ; ' +
        'the alarm state stays visible in CloudWatch and on the dashboard',
    });
    return topic;
  }

  private createDashboard(props: ObservabilityProps): Dashboard {
    const { queues, functionNames } = props;
    const queueMetric = (metric: 'visible' | 'age' | 'dead', name: (typeof QUEUE_NAMES)[number]) => {
      const { queue, deadLetterQueue } = queues[name];
      const options = { statistic: 'Maximum', period: Duration.minutes(1), label: name };
      if (metric === 'visible') return queue.metricApproximateNumberOfMessagesVisible(options);
      if (metric === 'age') return queue.metricApproximateAgeOfOldestMessage(options);
      return deadLetterQueue.metricApproximateNumberOfMessagesVisible(options);
    };
    const perFunction = (metricName: string, statistic: string) =>
      FUNCTION_NAMES.map((name) => lambdaMetric(functionNames[name], metricName, statistic));
    const graph = (title: string, left: IMetric[], width = 8) => new GraphWidget({ title, left, width, height: 6 });
    const m = CUSTOM_METRICS;
    return new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown:
              `# ${Stack.of(this).stackName}\n` +
              'Queues and functions first, then what the bandit does. Runbook for each alarm: docs/deploy.md.',
            width: 24,
            height: 2,
          }),
        ],
        [new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 })],
        [
          graph(
            'Queue depth (visible messages)',
            QUEUE_NAMES.map((n) => queueMetric('visible', n)),
          ),
          graph(
            'Age of oldest message (s)',
            QUEUE_NAMES.map((n) => queueMetric('age', n)),
          ),
          graph(
            'Dead-letter queues (messages)',
            QUEUE_NAMES.map((n) => queueMetric('dead', n)),
          ),
        ],
        [
          graph('Lambda errors', perFunction('Errors', 'Sum')),
          graph('Lambda duration p99 (ms)', perFunction('Duration', 'p99')),
          graph('Lambda throttles', perFunction('Throttles', 'Sum')),
        ],
        [
          graph('Decisions by policy, channel, status', [
            search(`MetricName="${m.decisions}"`, 'Sum', 'decisions'),
            search(`MetricName="${m.duplicateRequests}"`, 'Sum', 'duplicate requests'),
          ]),
          graph('Sends by channel and outcome', [
            search(`MetricName="${m.sendsEnqueued}"`, 'Sum', 'enqueued by the sweeper'),
            search(`MetricName="${m.sends}"`, 'Sum', 'sends'),
          ]),
          graph('Guardrail stops', [
            search(m.noArmPrefix, 'Sum', 'no allowed arm at decide'),
            search(`MetricName="${m.sendsStopped}"`, 'Sum', 'stopped at send time'),
          ]),
        ],
        [
          graph('Rewards', [
            search(`MetricName="${m.rewardsClosed}"`, 'Sum', 'reward windows closed'),
            search(`MetricName="${m.rewardsApplied}"`, 'Sum', 'applied by the learner'),
            search(`MetricName="${m.rewardDuplicatesSkipped}"`, 'Sum', 'skipped by the learner as already applied'),
          ]),
          graph('Reward per decision: holdout vs bandit (hourly mean)', [
            search(`MetricName="${m.reward}"`, 'Average', 'reward', 3600),
          ]),
          graph('Sweep lateness, max (ms)', [search(`MetricName="${m.sweepLateness}"`, 'Maximum', 'lateness', 60)]),
        ],
      ],
    });
  }
}
