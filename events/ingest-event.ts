/** What arrives on the events queue: an engagement event or a profile upsert. */
import * as z from 'zod';
import {
  AppOpenedSchema,
  BouncedSchema,
  ComplainedSchema,
  ConvertedSchema,
  NotificationClickedSchema,
  NotificationDeliveredSchema,
  NotificationDismissedSchema,
  NotificationOpenedSchema,
  UnsubscribedSchema,
} from './engagement.ts';
import { ProfileUpsertSchema } from './profile.ts';

/** Every message of the events queue, discriminated on `type` (one flat union, so JSON Schema stays flat). */
export const IngestEventSchema = z
  .discriminatedUnion('type', [
    AppOpenedSchema,
    NotificationDeliveredSchema,
    NotificationOpenedSchema,
    NotificationClickedSchema,
    NotificationDismissedSchema,
    UnsubscribedSchema,
    BouncedSchema,
    ComplainedSchema,
    ConvertedSchema,
    ProfileUpsertSchema,
  ])
  .meta({
    title: 'IngestEvent',
    description:
      'A message on the events queue: an engagement event or a profile/consent upsert, discriminated on type. Schema version 1.',
  });

export type IngestEvent = z.infer<typeof IngestEventSchema>;
export type IngestEventType = IngestEvent['type'];

/** The `type` of every message the events queue accepts. */
export const INGEST_EVENT_TYPES = IngestEventSchema.options.map(
  (o) => o.shape.type.value,
) as readonly IngestEventType[];
