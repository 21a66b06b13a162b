/**
 * The model table (infra/resources.ts, TABLES.model: PK modelId, SK version, one immutable item per
 * version): the learner reads the head and writes version n+1 (modelTableStore); decide reads the head
 * at most once per refresh interval per container (HeadModelCache).
 *
 * Item: modelId, version, state (the SerializedPolicy as JSON text), appliedRewards (binary, see
 * applied-rewards.ts), policyVersion, updates, createdAt.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AnalystConfig } from '#config/schema.ts';
import { IncompatibleModelStateError } from '#model/errors.ts';
import { SendTimePolicy, type SerializedPolicy } from '#model/policy.ts';
import type { LearnerLogger, LearnerModelStore, LearnerModelVersion } from '../learner/learner.ts';

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

/** The part of the logger the cache uses. */
export type ModelCacheLogger = Pick<LearnerLogger, 'info' | 'warn'>;

export interface HeadModelCacheOptions {
  /** reads the head (modelTableStore(...).readHead; eventually consistent reads are fine here) */
  readHead: () => Promise<LearnerModelVersion | undefined>;
  now: () => number;
  logger: ModelCacheLogger;
}

/** The policy decide uses and where it came from. */
export interface CachedPolicy {
  policy: SendTimePolicy;
  /** model table version it was loaded from; 0 = no version yet (a fresh learner) */
  modelVersion: number;
  configVersion: string;
}

/**
 * The head model as decide sees it: read at most once per config.model.refreshIntervalSeconds per
 * container, and again at once when the config changes (a new config may change the algorithm).
 * A read that fails keeps the policy it has (decisions go on with a slightly older model); with none yet,
 * the error propagates and the batch is retried.
 * @example
 *   const cache = new HeadModelCache({ readHead: store.readHead, now: Date.now, logger });
 *   const { policy, modelVersion } = await cache.current(config);
 */
export class HeadModelCache {
  private cached: CachedPolicy | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private readonly options: HeadModelCacheOptions;

  constructor(options: HeadModelCacheOptions) {
    this.options = options;
  }

  /** model reads made so far (for the cost accounting of the benchmark) */
  reads = 0;

  async current(config: AnalystConfig): Promise<CachedPolicy> {
    const now = this.options.now();
    const fresh =
      this.cached !== undefined &&
      this.cached.configVersion === config.version &&
      now - this.fetchedAt < config.model.refreshIntervalSeconds * 1000;
    if (fresh && this.cached) return this.cached;
    let head: LearnerModelVersion | undefined;
    try {
      this.reads++;
      head = await this.options.readHead();
    } catch (error) {
      if (!this.cached || this.cached.configVersion !== config.version) throw error;
      this.options.logger.warn('model refresh failed; deciding with the cached model', {
        modelVersion: this.cached.modelVersion,
        error: (error as Error).name,
      });
      this.fetchedAt = now;
      return this.cached;
    }
    this.fetchedAt = now;
    const version = head?.version ?? 0;
    if (this.cached && this.cached.modelVersion === version && this.cached.configVersion === config.version) {
      return this.cached;
    }
    const policy = this.load(config, head);
    this.cached?.policy.dispose();
    this.cached = { policy, modelVersion: version, configVersion: config.version };
    this.options.logger.info('model loaded', { modelVersion: version, configVersion: config.version });
    return this.cached;
  }

  private load(config: AnalystConfig, head: LearnerModelVersion | undefined): SendTimePolicy {
    if (!head) return SendTimePolicy.create(config);
    try {
      return SendTimePolicy.load(config, head.state);
    } catch (error) {
      if (!(error instanceof IncompatibleModelStateError)) throw error;
      // the learner starts a new learner for the new algorithm too (learner.ts loadPolicy)
      this.options.logger.warn('model state incompatible with the config; deciding with a new learner', {
        modelVersion: head.version,
        detail: error.message,
      });
      return SendTimePolicy.create(config);
    }
  }
}
