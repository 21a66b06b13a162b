/** Base class of simulator errors: carries the file it came from, when there is one. */
export class SimulationError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SimulationError';
  }
}

/** A population file cannot be read or is not JSON. */
export class PopulationFileError extends SimulationError {
  constructor(message: string, file: string, options?: ErrorOptions) {
    super(message, file, options);
    this.name = 'PopulationFileError';
  }
}

/** The population does not match its schema; `problems` lists each field path with its reason. */
export class InvalidPopulationError extends SimulationError {
  constructor(
    readonly problems: { path: string; reason: string }[],
    file?: string,
  ) {
    const where = file ? ` in ${file}` : '';
    super(`Invalid population${where}:\n${problems.map((p) => `  - ${p.path}: ${p.reason}`).join('\n')}`, file);
    this.name = 'InvalidPopulationError';
  }
}

/** A policy name on the command line or in the options that the simulator does not know. */
export class UnknownPolicyError extends SimulationError {
  constructor(
    readonly policy: string,
    readonly known: readonly string[],
  ) {
    super(`Unknown policy "${policy}"; known policies: ${known.join(', ')}`);
    this.name = 'UnknownPolicyError';
  }
}
