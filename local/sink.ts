/**
 * The local push / SMS sink's inbox: an SNS topic (fauxqs) that dispatch's TopicBackedPushSmsSinkForLocalStack
 * publishes to, with a queue subscribed so the demo and tests can read what was sent.
 */
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalStack } from './stack.ts';

/** An SNS topic for the local push / SMS sink, with a queue subscribed to it so a test can read what was sent. */
export interface SinkTopic {
  topicArn: string;
  queueUrl: string;
}

export async function createSinkTopic(stack: LocalStack, name: string): Promise<SinkTopic> {
  const { TopicArn } = await stack.clients.sns.send(new CreateTopicCommand({ Name: `${stack.prefix}-${name}` }));
  const { QueueUrl } = await stack.clients.sqs.send(new CreateQueueCommand({ QueueName: `${stack.prefix}-${name}` }));
  if (!TopicArn || !QueueUrl) throw new Error('sink topic not created');
  const { Attributes } = await stack.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await stack.clients.sns.send(
    new SubscribeCommand({
      TopicArn,
      Protocol: 'sqs',
      Endpoint: Attributes?.QueueArn,
      Attributes: { RawMessageDelivery: 'false' },
    }),
  );
  return { topicArn: TopicArn, queueUrl: QueueUrl };
}

export interface SinkMessage {
  channel: string;
  decisionId: string;
  message: string;
}

/** Every message published to the sink topic so far (consumes them). */
export async function drainSink(stack: LocalStack, sink: SinkTopic): Promise<SinkMessage[]> {
  const out: SinkMessage[] = [];
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await stack.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: sink.queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (Messages.length === 0) empty++;
    for (const m of Messages) {
      const envelope = JSON.parse(m.Body ?? '{}') as {
        Message: string;
        MessageAttributes?: Record<string, { Value: string }>;
      };
      out.push({
        channel: envelope.MessageAttributes?.channel?.Value ?? '',
        decisionId: envelope.MessageAttributes?.decisionId?.Value ?? '',
        message: envelope.Message,
      });
    }
  }
  return out;
}
