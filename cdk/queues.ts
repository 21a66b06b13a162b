/**
 * The SQS queues, one per entry of QUEUES (infra/resources.ts), each with its DLQ. Visibility timeout,
 * retention, maxReceiveCount and the consumer's batching all come from there: the stack cannot break
 * the 6x-timeout rule by editing a number here, because there is no number here.
 */
import { Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_NAMES, QUEUES, type QueueDefinition, type QueueLogicalName } from '#infra/resources.ts';
import { pascalCase } from './names.ts';

/** A work queue, its dead-letter queue and the definition both came from. */
export class MessageQueue {
  constructor(
    readonly logicalName: QueueLogicalName,
    readonly definition: QueueDefinition,
    readonly queue: Queue,
    readonly deadLetterQueue: Queue,
  ) {}

  /** sqs:SendMessage (which SendMessageBatch also needs) on this queue only. */
  allowSend(): PolicyStatement {
    return new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] });
  }
}

export type MessageQueues = { readonly [Q in QueueLogicalName]: MessageQueue };

/**
 * Creates every queue of QUEUES and its DLQ under `scope`: SQS-managed SSE, TLS-only access.
 * @example const queues = createQueues(this); queues.events.queue.queueUrl
 */
export function createQueues(scope: Construct): MessageQueues {
  const group = new Construct(scope, 'Queues');
  const entries = QUEUE_NAMES.map((name) => {
    const definition: QueueDefinition = QUEUES[name];
    const id = pascalCase(name);
    // SQS-managed keys: producers in other accounts or services need no KMS grant to send
    const common = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
    const deadLetterQueue = new Queue(group, `${id}DeadLetterQueue`, {
      ...common,
      retentionPeriod: Duration.seconds(definition.deadLetter.messageRetentionSeconds),
    });
    const queue = new Queue(group, `${id}Queue`, {
      ...common,
      visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(definition.messageRetentionSeconds),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: definition.deadLetter.maxReceiveCount },
    });
    return [name, new MessageQueue(name, definition, queue, deadLetterQueue)] as const;
  });
  return Object.fromEntries(entries) as unknown as MessageQueues;
}
