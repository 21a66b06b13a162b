/**
 * The model table (infra/resources.ts, TABLES.model: PK modelId, SK version, one immutable item per
 * version): the learner reads the head and writes version n+1 (modelTableStore); decide reads the head
 * at most once per refresh interval per container (lambdas/decide/head-model-cache.ts). Both load the head
 * through headOrFresh. No TF.js here: the learner's bundle includes this module.
 *
 * Item: modelId, version, state (the SerializedPolicy as JSON text), appliedRewards (binary, see
 * applied-rewards.ts), policyVersion, updates, createdAt.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { IncompatibleModelStateError } from '#model/errors.ts';
import type { SerializedPolicy } from '#model/policy-learning.ts';
import type { LearnerModelStore, LearnerModelVersion } from '../learner/learner.ts';

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

/**
 * The policy of the head model, or a fresh one when there is no head yet or when its state does not fit
 * the config (IncompatibleModelStateError: the algorithm or the feature layout changed, which starts a
 * new learner on purpose; `onIncompatible` is told why). Other errors propagate. Decide and the learner
 * both load the head through this, so they agree on when a new learner starts.
 * @example const policy = headOrFresh(head, (s) => PolicyLearner.load(config, s), () => PolicyLearner.create(config), warn)
 */
export function headOrFresh<P>(
  head: LearnerModelVersion | undefined,
  load: (state: SerializedPolicy) => P,
  create: () => P,
  onIncompatible: (error: IncompatibleModelStateError, head: LearnerModelVersion) => void,
): P {
  if (!head) return create();
  try {
    return load(head.state);
  } catch (error) {
    if (!(error instanceof IncompatibleModelStateError)) throw error;
    onIncompatible(error, head);
    return create();
  }
}
