/**
 * The learner's view of the model table (infra/resources.ts, TABLES.model: PK modelId, SK version,
 * one immutable item per version). Stand-in until lambdas/shared/model-store.ts (readHeadModel /
 * writeModelVersion) lands; the learner only depends on the LearnerModelStore interface.
 *
 * Item: modelId, version, state (the SerializedPolicy as JSON text), appliedRewards (binary, see
 * applied-rewards.ts), policyVersion, updates, createdAt.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SerializedPolicy } from '#model/policy.ts';
import type { LearnerModelStore, LearnerModelVersion } from './learner.ts';

/** The model id of the send-time policy. */
export const SEND_TIME_MODEL_ID = 'send-time-policy';

interface StoredModelItem {
  modelId: string;
  version: number;
  state: string;
  appliedRewards?: Uint8Array;
  policyVersion: string;
  updates: number;
  createdAt: number;
}

/**
 * A LearnerModelStore over the model table.
 * @example const store = modelTableStore(doc, process.env.MODEL_TABLE_NAME, SEND_TIME_MODEL_ID);
 */
export function modelTableStore(
  doc: DynamoDBDocumentClient,
  tableName: string,
  modelId: string = SEND_TIME_MODEL_ID,
): LearnerModelStore {
  return {
    modelId,
    async readHead(): Promise<LearnerModelVersion | undefined> {
      const { Items = [] } = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'modelId = :id',
          ExpressionAttributeValues: { ':id': modelId },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      );
      const item = Items[0] as StoredModelItem | undefined;
      if (!item) return undefined;
      return {
        version: item.version,
        state: JSON.parse(item.state) as SerializedPolicy,
        appliedRewards: item.appliedRewards,
      };
    },
    async writeVersion(next): Promise<boolean> {
      const item: StoredModelItem = {
        modelId,
        version: next.version,
        state: JSON.stringify(next.state),
        policyVersion: next.policyVersion,
        updates: next.state.bandit.updates,
        createdAt: next.createdAt,
        ...(next.appliedRewards && next.appliedRewards.byteLength > 0 ? { appliedRewards: next.appliedRewards } : {}),
      };
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(version)',
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },
  };
}
