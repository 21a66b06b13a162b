/**
 * How a user's features live in the DynamoDB `users` table, and the dedup memory that makes
 * ingest idempotent without a write per event.
 *
 * Item attributes written by ingest (other writers, e.g. dispatch's send log, own other attributes
 * and ingest never overwrites them: it writes with UpdateItem SET on its own attributes only):
 * - `st`   map: the UserState without its histogram (consents, zone, decayed channel counts, ...)
 * - `hist` binary: the 168-hour engagement histogram as little-endian Float32 (672 bytes, not 168 number attributes)
 * - `seen` binary: ids of recently applied events, 12 bytes each (64-bit hash + occurredAt in minutes)
 * - `iv`   number: ingest version, for optimistic concurrency between concurrent ingest invocations
 * - `email`, `phone`, `pushEndpointArn`: contact endpoints (personal data: stored for dispatch, never logged)
 */

import { hashString } from '#model/random.ts';
import { CHANNELS, emptyUserState, HOURS_PER_WEEK, type UserState } from '#model/user-state.ts';

/** Dedup memory: how many event ids and how far back (relative to the newest) a user item remembers. */
export const SEEN_CAPACITY = 128;
export const SEEN_WINDOW_MS = 7 * 86_400_000;
const SEEN_ENTRY_BYTES = 12;

export interface SeenEntry {
  /** 64-bit hash of the producer's event id, as two 32-bit halves */
  hi: number;
  lo: number;
  /**
   * when the event was applied, in whole minutes since the epoch. Processing time, not event time:
   * what must be remembered is how recently an id was seen, since redeliveries follow the first delivery
   * within the queue's retention (4 days by default), however old the event itself is.
   */
  minute: number;
}

/** 64-bit fingerprint of an event id: two independent 32-bit FNV-1a hashes (collisions ~ n^2 / 2^65). */
export function fingerprint(eventId: string, appliedAtMs: number): SeenEntry {
  return {
    hi: hashString(eventId, 0x811c9dc5),
    lo: hashString(eventId, 0x01000193),
    minute: Math.floor(appliedAtMs / 60_000),
  };
}

export function encodeSeen(entries: SeenEntry[]): Uint8Array {
  const buf = new Uint8Array(entries.length * SEEN_ENTRY_BYTES);
  const view = new DataView(buf.buffer);
  entries.forEach((e, i) => {
    view.setUint32(i * SEEN_ENTRY_BYTES, e.hi, true);
    view.setUint32(i * SEEN_ENTRY_BYTES + 4, e.lo, true);
    view.setUint32(i * SEEN_ENTRY_BYTES + 8, e.minute, true);
  });
  return buf;
}

export function decodeSeen(bytes: Uint8Array | undefined): SeenEntry[] {
  if (!bytes || bytes.length === 0) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SeenEntry[] = [];
  for (let off = 0; off + SEEN_ENTRY_BYTES <= bytes.length; off += SEEN_ENTRY_BYTES) {
    out.push({
      hi: view.getUint32(off, true),
      lo: view.getUint32(off + 4, true),
      minute: view.getUint32(off + 8, true),
    });
  }
  return out;
}

/** Keeps the newest entries: at most SEEN_CAPACITY, none older than SEEN_WINDOW_MS before the newest. */
export function pruneSeen(entries: SeenEntry[]): SeenEntry[] {
  if (entries.length === 0) return entries;
  const sorted = [...entries].sort((a, b) => b.minute - a.minute);
  const horizon = sorted[0].minute - SEEN_WINDOW_MS / 60_000;
  return sorted.filter((e) => e.minute >= horizon).slice(0, SEEN_CAPACITY);
}

export function seenKey(e: SeenEntry): string {
  return `${e.hi}:${e.lo}`;
}

function encodeHistogram(h: number[]): Uint8Array {
  const f = new Float32Array(h);
  return new Uint8Array(f.buffer);
}

function decodeHistogram(bytes: Uint8Array | undefined): number[] {
  if (!bytes || bytes.byteLength !== HOURS_PER_WEEK * 4) return new Array(HOURS_PER_WEEK).fill(0);
  // Copy: the SDK's buffer may not be 4-byte aligned.
  const copy = new Uint8Array(bytes);
  return Array.from(new Float32Array(copy.buffer));
}

/** The attributes of a users item that ingest reads. */
export interface StoredUserItem {
  userId: string;
  st?: Omit<UserState, 'engagementByHourOfWeek' | 'userId'>;
  hist?: Uint8Array;
  seen?: Uint8Array;
  iv?: number;
  email?: string;
  phone?: string;
  pushEndpointArn?: string;
}

export function decodeUserState(item: StoredUserItem | undefined, userId: string): UserState {
  if (!item?.st) return emptyUserState(userId);
  const base = emptyUserState(userId);
  const st = item.st;
  return {
    ...base,
    ...st,
    userId,
    consent: { ...base.consent, ...st.consent },
    channels: Object.fromEntries(
      CHANNELS.map((c) => [c, { ...base.channels[c], ...st.channels?.[c] }]),
    ) as UserState['channels'],
    engagementByHourOfWeek: decodeHistogram(item.hist),
  };
}

/** The ingest-owned attributes of the item for a state. Undefined fields are dropped (DynamoDB rejects them). */
export function encodeUserState(state: UserState): { st: StoredUserItem['st']; hist: Uint8Array } {
  const { engagementByHourOfWeek, userId: _userId, ...rest } = state;
  return { st: JSON.parse(JSON.stringify(rest)), hist: encodeHistogram(engagementByHourOfWeek) };
}
