/** Base class of every error the CDK app throws before it synthesizes anything. */
export class DeploymentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A context value (`-c key=value` or cdk.json `context`) that cannot be deployed: names the key, the
 * reason and what a good value looks like, never guesses one.
 */
export class DeploymentSettingError extends DeploymentError {
  constructor(
    readonly key: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`context '${key}': ${reason}`, options);
  }
}
