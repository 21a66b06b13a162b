/**
 * Rewards: attribution of engagement events to decisions (called by ingest), window closing (called by
 * the sweeper), and the rewards-queue message the learner consumes.
 */

export * from '#model/reward.ts';
export * from './attribute.ts';
export * from './close.ts';
export * from './errors.ts';
export * from './message.ts';
