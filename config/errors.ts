/** Base class of every config error: carries the file it came from, when there is one. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** The config does not match the schema; `problems` lists each field path with its reason. */
export class InvalidConfigError extends ConfigError {
  constructor(
    readonly problems: { path: string; reason: string }[],
    file?: string,
  ) {
    const where = file ? ` in ${file}` : '';
    super(`Invalid config${where}:\n${problems.map((p) => `  - ${p.path}: ${p.reason}`).join('\n')}`, file);
    this.name = 'InvalidConfigError';
  }
}
