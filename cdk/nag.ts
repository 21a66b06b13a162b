/**
 * cdk-nag v3 (policy validation plugins): the AWS Solutions and Serverless packs run on every synth, in
 * `cdk synth` / `cdk deploy` and in the tests alike. Findings that are right in general and wrong here
 * are acknowledged where the resource is made, each with its own reason (stack.ts, observability.ts).
 */
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';

/** The packs, newly made (a pack keeps the findings of its last run). */
export function nagPacks(app: App) {
  return [new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true })];
}

/** Registers the packs on the app: synthesis fails on any unacknowledged finding. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(...nagPacks(app));
}
