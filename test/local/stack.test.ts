import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { SendEmailCommand } from '@aws-sdk/client-sesv2';
import { CreateTopicCommand, PublishCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { QUEUE_NAMES, QUEUES, TABLE_NAMES, TABLES } from '#infra/resources.ts';
import { clearSentEmails, readSentEmails } from '#local/ses-inbox.ts';
import { queueCounts, receiveAll, sendBodies } from '#test/helpers/local-queues.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

const stack = useLocalStack();

describe('local stack resources', () => {
  it.each(TABLE_NAMES)('creates the %s table with its keys, indexes and TTL', async (name) => {
    // Prepare
    const definition = TABLES[name];
    const { dynamo } = stack().clients;

    // Act
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: stack().tableNames[name] }));
    const { TimeToLiveDescription } = await dynamo.send(
      new DescribeTimeToLiveCommand({ TableName: stack().tableNames[name] }),
    );

    // Assess
    const sortKey = 'sortKey' in definition ? definition.sortKey : undefined;
    expect(Table?.KeySchema).toEqual([
      { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
      ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' }] : []),
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const indexes = Object.entries(definition.indexes as Record<string, { partitionKey: { name: string } }>);
    expect((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName).sort()).toEqual(
      indexes.map(([indexName]) => indexName).sort(),
    );
    for (const index of Table?.GlobalSecondaryIndexes ?? []) {
      const expected = definition.indexes[index.IndexName as keyof typeof definition.indexes] as {
        partitionKey: { name: string };
        sortKey?: { name: string };
        projection: { type: string };
      };
      expect(index.KeySchema).toEqual([
        { AttributeName: expected.partitionKey.name, KeyType: 'HASH' },
        ...(expected.sortKey ? [{ AttributeName: expected.sortKey.name, KeyType: 'RANGE' }] : []),
      ]);
      expect(index.Projection?.ProjectionType).toBe(expected.projection.type);
    }
    const ttl = 'timeToLiveAttribute' in definition ? definition.timeToLiveAttribute : undefined;
    if (ttl) {
      expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: ttl });
    } else {
      expect(TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');
    }
  });

  it('creates the decisions byDue index so a sweeper can query the sends due before now', async () => {
    // Prepare
    const { doc } = stack().clients;
    const TableName = stack().tableNames.decisions;
    const now = Date.parse('2026-11-02T12:00:00Z');
    await Promise.all([
      doc.send(new PutCommand({ TableName, Item: { decisionId: 'd-past', dueShard: 'due#1', dueAt: now - 60_000 } })),
      doc.send(new PutCommand({ TableName, Item: { decisionId: 'd-future', dueShard: 'due#1', dueAt: now + 60_000 } })),
      doc.send(new PutCommand({ TableName, Item: { decisionId: 'd-sent' } })), // sparse: no dueShard
    ]);

    // Act
    const { Items } = await doc.send(
      new QueryCommand({
        TableName,
        IndexName: 'byDue',
        KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
        ExpressionAttributeValues: { ':shard': 'due#1', ':now': now },
      }),
    );

    // Assess
    expect(Items).toEqual([{ decisionId: 'd-past', dueShard: 'due#1', dueAt: now - 60_000 }]);
  });

  it.each(QUEUE_NAMES)('creates the %s queue with its visibility timeout and redrive to its DLQ', async (name) => {
    // Prepare
    const definition = QUEUES[name];
    const { sqs } = stack().clients;

    // Act
    const { Attributes: source } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: stack().queueUrls[name], AttributeNames: ['All'] }),
    );
    const { Attributes: dlq } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: stack().dlqUrls[name], AttributeNames: ['All'] }),
    );

    // Assess
    expect(Number(source?.VisibilityTimeout)).toBe(definition.visibilityTimeoutSeconds);
    expect(Number(source?.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * definition.consumer.timeoutSeconds);
    expect(Number(source?.MessageRetentionPeriod)).toBe(definition.messageRetentionSeconds);
    expect(JSON.parse(source?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: stack().dlqArns[name],
      maxReceiveCount: definition.deadLetter.maxReceiveCount,
    });
    expect(source?.QueueArn).toBe(stack().queueArns[name]);
    expect(dlq?.QueueArn).toBe(stack().dlqArns[name]);
    expect(Number(dlq?.MessageRetentionPeriod)).toBe(definition.deadLetter.messageRetentionSeconds);
  });

  it('hands out an env with which a client configured from the environment alone reaches every resource', async () => {
    // Prepare: a Lambda module builds its clients from the environment, without an explicit endpoint
    const saved = { ...process.env };
    Object.assign(process.env, stack().env);
    try {
      const sqs = new SQSClient({});
      const dynamo = new DynamoDBClient({});

      // Act
      await sqs.send(new SendMessageCommand({ QueueUrl: process.env.DISPATCH_QUEUE_URL, MessageBody: 'from-env' }));
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: process.env.DISPATCH_QUEUE_URL, VisibilityTimeout: 0 }),
      );
      const { TableNames } = await dynamo.send(new ListTablesCommand({}));

      // Assess: with fauxqs's default sqs.<region>.localhost URLs the SDK would follow the URL's host (ENOTFOUND)
      expect(new URL(stack().queueUrls.dispatch).origin).toBe(stack().endpoints.sqs);
      expect(Messages?.map((message) => message.Body)).toEqual(['from-env']);
      expect(TableNames).toEqual(expect.arrayContaining(Object.values(stack().tableNames)));
      sqs.destroy();
      dynamo.destroy();
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('local stack emulators', () => {
  it('captures an email sent with SESv2 SendEmail in the inbox helper', async () => {
    // Prepare
    await clearSentEmails(stack());
    const before = Date.now();

    // Act
    const sent = await stack().clients.sesv2.send(
      new SendEmailCommand({
        FromEmailAddress: 'noreply@example.com',
        Destination: { ToAddresses: ['ada@example.com'] },
        Content: { Simple: { Subject: { Data: 'Your weekly digest' }, Body: { Text: { Data: 'Hello Ada' } } } },
      }),
    );
    const emails = await readSentEmails(stack(), { to: 'ada@example.com', since: before });
    const others = await readSentEmails(stack(), { to: 'bob@example.com' });

    // Assess
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({
      messageId: sent.MessageId,
      from: 'noreply@example.com',
      destination: { to: ['ada@example.com'] },
      subject: 'Your weekly digest',
      body: { text: 'Hello Ada' },
    });
    expect(others).toEqual([]);
  });

  it('fans an SNS publish to a topic out to a subscribed queue', async () => {
    // Prepare
    const { sns, sqs } = stack().clients;
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `${stack().prefix}-push-test` }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${stack().prefix}-push-sink` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }));

    // Act
    const { MessageId } = await sns.send(
      new PublishCommand({
        TopicArn,
        Message: JSON.stringify({ title: 'Hi' }),
        MessageAttributes: { channel: { DataType: 'String', StringValue: 'push' } },
      }),
    );
    const received = await receiveAll(sqs, QueueUrl ?? '');

    // Assess
    expect(received).toHaveLength(1);
    const envelope = JSON.parse(received[0].Body ?? '{}');
    expect(envelope).toMatchObject({
      Type: 'Notification',
      MessageId,
      TopicArn,
      Message: JSON.stringify({ title: 'Hi' }),
      MessageAttributes: { channel: { Type: 'String', Value: 'push' } },
    });
  });

  it('refuses SNS publish to a phone number (fauxqs has no SMS), which is why SMS is tested with mocks', async () => {
    await expect(
      stack().clients.sns.send(new PublishCommand({ PhoneNumber: '+15555550100', Message: 'code 1234' })),
    ).rejects.toThrow(/TopicArn/);
  });

  it('reset() empties tables, queues, DLQs and the inbox but keeps every resource', async () => {
    // Prepare
    const { doc, sqs, sesv2 } = stack().clients;
    await doc.send(new PutCommand({ TableName: stack().tableNames.users, Item: { userId: 'u-reset' } }));
    await sendBodies(sqs, stack().queueUrls.events, ['e1', 'e2']);
    await sendBodies(sqs, stack().dlqUrls.requests, ['dead']);
    await sesv2.send(
      new SendEmailCommand({
        FromEmailAddress: 'noreply@example.com',
        Destination: { ToAddresses: ['reset@example.com'] },
        Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 'b' } } } },
      }),
    );

    // Act
    await stack().reset();

    // Assess
    const { Item } = await doc.send(
      new GetCommand({ TableName: stack().tableNames.users, Key: { userId: 'u-reset' } }),
    );
    expect(Item).toBeUndefined();
    const scans = await Promise.all(
      TABLE_NAMES.map((name) => doc.send(new ScanCommand({ TableName: stack().tableNames[name] }))),
    );
    expect(scans.map((scan) => scan.Count)).toEqual(TABLE_NAMES.map(() => 0));
    expect(await queueCounts(sqs, stack().queueUrls.events)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await queueCounts(sqs, stack().dlqUrls.requests)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await readSentEmails(stack())).toEqual([]);
    const { Table } = await stack().clients.dynamo.send(
      new DescribeTableCommand({ TableName: stack().tableNames.decisions }),
    );
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
      Object.keys(TABLES.decisions.indexes).sort(),
    );
  });
});
