/**
 * Every `sto` subcommand, as a function that adds itself to the program. To add one (export, evaluate,
 * report, config, pretrain ...), write cli/commands/<name>.ts exporting such a function and list it here.
 */
import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerEvaluate } from './evaluate.ts';
import { registerExport } from './export.ts';
import { registerPretrain } from './pretrain.ts';
import { registerReport } from './report.ts';
import { registerSimulate } from './simulate.ts';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [
  registerSimulate,
  registerConfig,
  registerExport,
  registerEvaluate,
  registerReport,
  registerPretrain,
];
