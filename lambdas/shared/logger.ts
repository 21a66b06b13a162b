/**
 * Powertools logger for every function, with a last line of defence against personal data:
 * whatever a log call is handed, fields named like contact endpoints and strings that look like
 * an email address or a phone number are masked before the line is written (events/redact.ts rules).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CONTACT_FIELD_NAMES, REDACTED, redactText } from '#events/index.ts';

/** JSON replacer used by the logger: masks contact fields by name and contact data by shape. */
export function piiReplacer(key: string, value: unknown): unknown {
  if (
    key &&
    value !== undefined &&
    value !== null &&
    CONTACT_FIELD_NAMES.has(key.toLowerCase().replace(/[_.-]/g, ''))
  ) {
    return REDACTED;
  }
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * A Powertools logger whose every line passes through `piiReplacer`.
 * @example const logger = createLogger('ingest'); logger.info('applied', { userId, events: 3 });
 */
export function createLogger(serviceName: string, options: { logLevel?: string } = {}): Logger {
  return new Logger({
    serviceName,
    logLevel: (options.logLevel ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO',
    jsonReplacerFn: piiReplacer,
  });
}
