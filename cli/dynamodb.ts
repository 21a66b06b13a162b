/**
 * The DynamoDB client settings of the commands that read or write a table (`sto export`, `sto pretrain`),
 * from their --region and --endpoint options and the environment.
 */
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { CliError } from './errors.ts';

export interface DynamoOptions {
  region?: string;
  /** e.g. the local stack's DynamoDB Local, http://127.0.0.1:8000 */
  endpoint?: string;
}

/**
 * The client config: the region of --region, AWS_REGION or AWS_DEFAULT_REGION (none is needed with an
 * endpoint), the endpoint, and a placeholder key for an emulator when the environment has none.
 * Checks the options only; call it before any slow work so a bad option fails at once.
 * @throws CliError (exit code 2) when there is no region and no endpoint, or the endpoint is not a URL
 * @example const client = new DynamoDBClient(dynamoClientConfig({ endpoint: 'http://127.0.0.1:8000' }));
 */
export function dynamoClientConfig(options: DynamoOptions, env: NodeJS.ProcessEnv = process.env): DynamoDBClientConfig {
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region && !options.endpoint) throw new CliError('no region: pass --region or set AWS_REGION');
  const clientConfig: DynamoDBClientConfig = { region: region ?? 'us-east-1' };
  if (options.endpoint) {
    if (!/^https?:\/\//.test(options.endpoint)) {
      throw new CliError(`--endpoint must be a URL, got "${options.endpoint}"`);
    }
    clientConfig.endpoint = options.endpoint;
    // Emulators accept any key; without one in the environment the SDK would refuse to sign at all.
    if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE) {
      clientConfig.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return clientConfig;
}
