/** Worker-thread entry of simulateInParallel: runs the seeds it is given and posts progress and the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runJob, type SimulationJob, type WorkerMessage } from './parallel.ts';

const post = (m: WorkerMessage) => parentPort?.postMessage(m);

try {
  const result = await runJob(workerData as SimulationJob, (seed, day) => post({ type: 'progress', seed, day }));
  post({ type: 'done', result });
} catch (error) {
  post({ type: 'failed', message: (error as Error).message, stack: (error as Error).stack });
}
