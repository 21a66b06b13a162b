/**
 * The DynamoDB tables, one per entry of TABLES (infra/resources.ts): keys, indexes, TTL, PITR and
 * retention come from there and nowhere else.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  type IndexProjection,
  type KeyAttribute,
  TABLE_NAMES,
  TABLES,
  type TableDefinition,
  type TableLogicalName,
} from '#infra/resources.ts';
import { DeploymentError } from './errors.ts';
import { pascalCase } from './names.ts';

const ATTRIBUTE_TYPES = { S: AttributeType.STRING, N: AttributeType.NUMBER, B: AttributeType.BINARY } as const;

function key(attribute: KeyAttribute) {
  return { name: attribute.name, type: ATTRIBUTE_TYPES[attribute.type] };
}

function projection(index: IndexProjection) {
  switch (index.type) {
    case 'ALL':
      return { projectionType: ProjectionType.ALL };
    case 'KEYS_ONLY':
      return { projectionType: ProjectionType.KEYS_ONLY };
    case 'INCLUDE':
      return { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.nonKeyAttributes] };
  }
}

/** A DynamoDB action a function may be granted (without the `dynamodb:` prefix). */
export type TableAction = 'GetItem' | 'BatchGetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query';

/** Index names of a table, as resources.ts spells them. */
export type IndexName<T extends TableLogicalName> = keyof (typeof TABLES)[T]['indexes'] & string;

/** One table of the stack with its definition. */
export class StateTable<T extends TableLogicalName = TableLogicalName> {
  constructor(
    readonly definition: TableDefinition,
    readonly table: Table,
    readonly logicalName: T,
  ) {}

  /**
   * A statement allowing exactly `actions` on the table (and, for Query, on the named indexes only).
   * @example decisions.allow(['Query'], ['byDue']) // dynamodb:Query on .../table/X/index/byDue
   */
  allow(actions: readonly TableAction[], indexes: readonly IndexName<T>[] = []): PolicyStatement {
    if (indexes.length > 0 && actions.some((action) => action !== 'Query')) {
      // GetItem and friends never touch an index: keep index ARNs in Query-only statements
      throw new DeploymentError(`${this.logicalName}: only Query reads an index; grant it in its own statement`);
    }
    const resources =
      indexes.length > 0 ? indexes.map((index) => `${this.table.tableArn}/index/${index}`) : [this.table.tableArn];
    return new PolicyStatement({ actions: actions.map((action) => `dynamodb:${action}`), resources });
  }
}

export type StateTables = { readonly [T in TableLogicalName]: StateTable<T> };

/**
 * Creates every table of TABLES under `scope`.
 * @example const tables = createTables(this); tables.users.table.tableName
 */
export function createTables(scope: Construct): StateTables {
  const group = new Construct(scope, 'Tables');
  const entries = TABLE_NAMES.map((name) => {
    const definition: TableDefinition = TABLES[name];
    const table = new Table(group, pascalCase(name), {
      partitionKey: key(definition.partitionKey),
      ...(definition.sortKey && { sortKey: key(definition.sortKey) }),
      billingMode: definition.billingMode === 'PAY_PER_REQUEST' ? BillingMode.PAY_PER_REQUEST : BillingMode.PROVISIONED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: definition.pointInTimeRecovery },
      ...(definition.timeToLiveAttribute && { timeToLiveAttribute: definition.timeToLiveAttribute }),
      // a KMS key (aws/dynamodb) instead of the invisible DynamoDB-owned one: key use shows in CloudTrail
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: definition.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      // a retained table is one we must not lose to a stray replacement either
      deletionProtection: definition.retainOnDelete,
    });
    for (const [indexName, index] of Object.entries(definition.indexes)) {
      table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: key(index.partitionKey),
        ...(index.sortKey && { sortKey: key(index.sortKey) }),
        ...projection(index.projection),
      });
    }
    return [name, new StateTable(definition, table, name)] as const;
  });
  return Object.fromEntries(entries) as unknown as StateTables;
}
