/** Queues and messages for integration tests of SQS consumers on the local stack. */

import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface TestQueue {
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
}

async function arnOf(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  if (!Attributes?.QueueArn) throw new Error(`no QueueArn for ${url}`);
  return Attributes.QueueArn;
}

/**
 * A fresh queue with its own DLQ, for tests that need a redrive setting of their own.
 * @example const queue = await createQueueWithDeadLetter(stack().clients.sqs, 'partial', { maxReceiveCount: 2 });
 */
export async function createQueueWithDeadLetter(
  sqs: SQSClient,
  name: string,
  options: { maxReceiveCount: number; visibilityTimeoutSeconds?: number },
): Promise<TestQueue> {
  const unique = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${unique}-dlq` }));
  if (!dlq.QueueUrl) throw new Error('no DLQ url');
  const dlqArn = await arnOf(sqs, dlq.QueueUrl);
  const source = await sqs.send(
    new CreateQueueCommand({
      QueueName: unique,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount }),
      },
    }),
  );
  if (!source.QueueUrl) throw new Error('no queue url');
  return { url: source.QueueUrl, arn: await arnOf(sqs, source.QueueUrl), dlqUrl: dlq.QueueUrl, dlqArn };
}

/**
 * Sends bodies in batches of ten, optionally with the same message attributes on each.
 * @example await sendBodies(sqs, queue.url, ['a', 'b'], { kind: { DataType: 'String', StringValue: 'test' } });
 */
export async function sendBodies(
  sqs: SQSClient,
  queueUrl: string,
  bodies: string[],
  messageAttributes?: Record<string, MessageAttributeValue>,
): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const { Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, index) => ({
          Id: String(index),
          MessageBody: body,
          ...(messageAttributes && { MessageAttributes: messageAttributes }),
        })),
      }),
    );
    if (Failed.length > 0) throw new Error(`SendMessageBatch failed: ${Failed[0].Code}`);
  }
}

/**
 * Receives (and leaves in flight) everything visible on a queue, e.g. to read a DLQ.
 * @example const dead = await receiveAll(sqs, queue.dlqUrl);
 */
export async function receiveAll(sqs: SQSClient, queueUrl: string) {
  const all = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        VisibilityTimeout: 30,
      }),
    );
    if (Messages.length === 0) return all;
    all.push(...Messages);
  }
}

/**
 * The queue's visible, in-flight and delayed counts.
 * @example expect(await queueCounts(sqs, url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
 */
export async function queueCounts(sqs: SQSClient, queueUrl: string) {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed),
  };
}
