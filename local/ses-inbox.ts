/**
 * The inbox of aws-ses-v2-local: every email sent through its SES v1 or v2 API, read over HTTP
 * (`GET /store`, `POST /clear-store`), so a test or the demo can see what the dispatcher sent.
 */

import { SesInboxError } from './errors.ts';

/** An email as aws-ses-v2-local stored it (its `Email` type). */
export interface CapturedEmail {
  messageId: string;
  from: string;
  replyTo: string[];
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  attachments: { content: string; contentType: string; filename?: string; size: number }[];
  headers?: { name: string; value: string }[];
  /** Epoch seconds at which the emulator received it. */
  at: number;
}

/** Where the inbox lives: a stack (anything with `endpoints.ses`) or the SES endpoint URL. */
export type SesInboxLocation = string | { readonly endpoints: { readonly ses: string } };

function baseUrl(location: SesInboxLocation): string {
  return typeof location === 'string' ? location : location.endpoints.ses;
}

export interface ReadSentEmailsOptions {
  /** Only emails received at or after this time (the emulator keeps whole seconds). */
  since?: Date | number;
  /** Only emails with this address among To, Cc or Bcc. */
  to?: string;
}

/**
 * Every email the SES emulator has accepted, oldest first.
 * @example const [email] = await readSentEmails(stack, { to: 'ada@example.com' }); expect(email.subject).toBe('Hi');
 */
export async function readSentEmails(
  location: SesInboxLocation,
  options: ReadSentEmailsOptions = {},
): Promise<CapturedEmail[]> {
  const url = new URL('/store', baseUrl(location));
  if (options.since !== undefined) {
    const ms = options.since instanceof Date ? options.since.getTime() : options.since;
    url.searchParams.set('since', String(Math.floor(ms / 1000)));
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new SesInboxError(`cannot reach the SES emulator at ${url.origin}`, { cause: error });
  }
  if (!response.ok) {
    throw new SesInboxError(`SES emulator answered ${response.status} to GET ${url.pathname}`);
  }
  const { emails } = (await response.json()) as { emails: CapturedEmail[] };
  if (options.to === undefined) return emails;
  const wanted = options.to.toLowerCase();
  return emails.filter((email) =>
    [...email.destination.to, ...email.destination.cc, ...email.destination.bcc].some((address) =>
      address.toLowerCase().includes(wanted),
    ),
  );
}

/**
 * Empties the SES emulator's inbox (and its templates).
 * @example await clearSentEmails(stack);
 */
export async function clearSentEmails(location: SesInboxLocation): Promise<void> {
  const url = new URL('/clear-store', baseUrl(location));
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST' });
  } catch (error) {
    throw new SesInboxError(`cannot reach the SES emulator at ${url.origin}`, { cause: error });
  }
  if (!response.ok) throw new SesInboxError(`SES emulator answered ${response.status} to POST ${url.pathname}`);
  await response.body?.cancel();
}
