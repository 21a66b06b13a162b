/**
 * Profile and consent upserts: what the producer knows about a user that is not an engagement
 * (time zone, consents, contact endpoints, quiet hours). Every field is optional: an absent field
 * leaves the stored value unchanged, so a producer can send only what changed.
 */
import * as z from 'zod';
import {
  Consents,
  E164PhoneNumber,
  EmailAddress,
  envelopeFields,
  Locale,
  PushEndpointArn,
  QuietHours,
  TimeZone,
} from './fields.ts';

/** Upsert of a user's profile and consents. */
export const ProfileUpsertSchema = z
  .strictObject({
    ...envelopeFields,
    type: z.literal('profile_upserted'),
    timeZone: TimeZone.optional().meta({
      description:
        'The user’s IANA time zone (e.g. Europe/Berlin); send slots are in this zone. Names the tz database does not know, and offsets such as UTC+5, are rejected.',
    }),
    consents: Consents.optional(),
    email: EmailAddress.optional(),
    phone: E164PhoneNumber.optional(),
    pushEndpointArn: PushEndpointArn.optional(),
    locale: Locale.optional(),
    quietHours: QuietHours.optional().meta({
      description:
        'The user’s own quiet hours in local time; they override the configured default. end before start spans midnight; start and end must differ.',
    }),
  })
  .meta({
    title: 'ProfileUpserted',
    description:
      'Upsert of a user’s profile and consents. Absent fields are left unchanged; when two upserts set the same field, the one with the later occurredAt wins.',
  });

export type ProfileUpsert = z.infer<typeof ProfileUpsertSchema>;
