/**
 * Builds the CDK app from context: settings read and checked first (a bad context value or config file
 * stops here, before anything is bundled), then the stack, then the cdk-nag checks.
 */
import { App, type AppProps, Tags } from 'aws-cdk-lib';
import { analystConfigJsonSchema } from './config-schema.ts';
import { addNagChecks } from './nag.ts';
import { readDeploymentSettings } from './settings.ts';
import { SendTimeOptimizerStack } from './stack.ts';

export const STACK_NAME = 'SendTimeOptimizer';

export interface BuiltApp {
  readonly app: App;
  readonly stack: SendTimeOptimizerStack;
}

/**
 * @example const { app } = buildApp(); app.synth();                        // cdk/app.ts
 * @example const { stack } = buildApp({ context: { configFile: 'x.json' }, outdir }); // tests
 */
export function buildApp(props: AppProps & { nag?: boolean; cwd?: string } = {}): BuiltApp {
  const { nag = true, cwd, ...appProps } = props;
  const app = new App(appProps);
  const settings = readDeploymentSettings(app.node, cwd);
  const stack = new SendTimeOptimizerStack(app, STACK_NAME, {
    description: 'Send-time optimizer: SQS -> Lambda -> DynamoDB, TF.js contextual bandit, SES / SNS (docs/deploy.md)',
    settings,
    configJsonSchema: analystConfigJsonSchema(),
  });
  Tags.of(stack).add('project', 'send-time-optimizer');
  if (nag) addNagChecks(app);
  return { app, stack };
}
