/**
 * Off-policy evaluation, pure: estimators with bootstrap intervals, the baseline verdict and
 * cross-fitted reward models. The Open Bandit Dataset loader (file I/O) is imported on its own
 * from `#model/ope/obd.ts`, so nothing here touches the file system.
 */
export { percentileInterval, resampleClusterSums, resampleColumnSums, standardDeviation } from './bootstrap.ts';
export * from './errors.ts';
export * from './estimators.ts';
export * from './reward-model.ts';
