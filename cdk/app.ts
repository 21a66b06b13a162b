/**
 * CDK entry (cdk.json: `npx tsx cdk/app.ts`). A bad context value or config file ends the run with its
 * reason and nothing else; cdk-nag findings end it with the validation report.
 */
import { ConfigError } from '#config/errors.ts';
import { buildApp } from './build.ts';
import { DeploymentError } from './errors.ts';

try {
  buildApp().app.synth();
} catch (error) {
  if (!(error instanceof DeploymentError || error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}
