/**
 * The representation network of NeuralLinear: an MLP from an arm's features to a predicted reward,
 * whose last hidden layer z(x) is the representation the Bayesian head works on.
 *
 * This is the learning side, in plain JavaScript (Float32 weights, Float64 arithmetic): the learner
 * Lambda trains the network and feeds the head without loading TF.js, which is most of a bundle
 * (model/bandit/README.md). decide() scores whole batches through the same weights uploaded as TF.js
 * tensors (neural-linear.ts, NetworkTensors). Gradients are written out by hand (backpropagation
 * through dense + ReLU layers and a squared loss), as they already had to be on tensors: tfjs-core's
 * Node build registers no gradients. The network is small (default 52 -> 32 -> 16 -> 1): a minibatch of
 * 64 is about 0.4 million multiply-adds, and a retraining runs 2.2x faster here than it did as tfjs ops
 * on wasm (bench/learn.bench.ts).
 */
import type { Rng } from '#model/random.ts';

export interface TrainingReport {
  steps: number;
  /** mean squared error of the last epoch, over its minibatches */
  loss: number;
}

export interface TrainingOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
}

/** Adam's constants, those of tf.train.adam (epsilon: the float32 backends' epsilon). */
const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

/** Dense layer forward pass: out[r, j] = act(b[j] + sum_i a[r, i] W[i, j]) for m rows. */
function dense(
  a: Float64Array,
  m: number,
  fanIn: number,
  W: Float32Array,
  b: Float32Array,
  relu: boolean,
  out: Float64Array,
): void {
  const units = b.length;
  for (let r = 0; r < m; r++) {
    const o = r * units;
    for (let j = 0; j < units; j++) out[o + j] = b[j];
    const ai = r * fanIn;
    for (let i = 0; i < fanIn; i++) {
      const x = a[ai + i];
      if (x === 0) continue;
      const w = i * units;
      for (let j = 0; j < units; j++) out[o + j] += x * W[w + j];
    }
    if (relu) for (let j = 0; j < units; j++) if (out[o + j] < 0) out[o + j] = 0;
  }
}

export class RepresentationNetwork {
  /** [W1, b1, ..., WL, bL, Wout, bout], W [in, out] row-major, b [out]; updated in place by train() */
  readonly weights: Float32Array[];
  private readonly shapes: number[][];
  /** layer widths, input first: [d, h1, ..., hL, 1] */
  private readonly widths: number[];

  /**
   * Weights from `initial` (a saved network, copied) or Glorot-uniform draws from `rng` (biases 0).
   * @example const net = new RepresentationNetwork(32, [32, 16], new Rng(1))
   */
  constructor(
    readonly inputDimension: number,
    readonly hidden: readonly number[],
    initial: Rng | readonly Float32Array[],
  ) {
    this.shapes = RepresentationNetwork.shapes(inputDimension, hidden);
    this.widths = [inputDimension, ...hidden, 1];
    this.weights = this.shapes.map((shape, i) => {
      const size = shape.reduce((a, b) => a * b, 1);
      if (Array.isArray(initial)) {
        const saved = (initial as readonly Float32Array[])[i];
        if (saved.length !== size) throw new RangeError(`weight ${i} has ${saved.length} values, expected ${size}`);
        return Float32Array.from(saved);
      }
      const values = new Float32Array(size);
      if (shape.length === 2) {
        const limit = Math.sqrt(6 / (shape[0] + shape[1]));
        const rng = initial as Rng;
        for (let j = 0; j < values.length; j++) values[j] = (2 * rng.next() - 1) * limit;
      }
      return values;
    });
  }

  /** Shapes of the weight arrays, in order. @example RepresentationNetwork.shapes(4, [8]) // [[4,8],[8],[8,1],[1]] */
  static shapes(inputDimension: number, hidden: readonly number[]): number[][] {
    const shapes: number[][] = [];
    let fanIn = inputDimension;
    for (const units of [...hidden, 1]) {
      shapes.push([fanIn, units], [units]);
      fanIn = units;
    }
    return shapes;
  }

  /** Width of z(x). */
  get representationDimension(): number {
    return this.hidden[this.hidden.length - 1];
  }

  /**
   * z(x) for n rows of features ([n * inputDimension]): [n * representationDimension], Float32 as stored.
   * @example const z = net.representation(features, n)
   */
  representation(features: ArrayLike<number>, n: number): Float32Array {
    const activations = this.forward(Float64Array.from(features), n, false);
    return Float32Array.from(activations[this.hidden.length]);
  }

  /**
   * Predicted reward for n rows: [n].
   * @example const yhat = net.predict(features, n)
   */
  predict(features: ArrayLike<number>, n: number): Float64Array {
    const activations = this.forward(Float64Array.from(features), n, true);
    return activations[this.hidden.length + 1];
  }

  /**
   * Mean squared error over n rows and its gradient for every weight (same order as `weights`), by
   * backpropagation.
   * @example const { loss, gradients } = net.lossAndGradients(X, y, n)
   */
  lossAndGradients(
    features: ArrayLike<number>,
    targets: ArrayLike<number>,
    n: number,
  ): { loss: number; gradients: Float64Array[] } {
    const gradients = this.shapes.map((shape) => new Float64Array(shape.reduce((a, b) => a * b, 1)));
    const loss = this.backward(Float64Array.from(features), targets, n, gradients);
    return { loss, gradients };
  }

  /**
   * Trains on n rows for `epochs` passes in shuffled minibatches with a fresh Adam optimizer (a fresh
   * optimizer keeps no state outside the weights, so a saved and reloaded bandit trains identically).
   * @example net.train(features, rewards, n, { epochs: 20, batchSize: 64, learningRate: 0.01 }, rng)
   */
  train(
    features: Float32Array,
    rewards: ArrayLike<number>,
    n: number,
    options: TrainingOptions,
    rng: Rng,
  ): TrainingReport {
    const d = this.inputDimension;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const batchSize = Math.max(1, Math.min(options.batchSize, n));
    const xb = new Float64Array(batchSize * d);
    const yb = new Float64Array(batchSize);
    const gradients = this.shapes.map((shape) => new Float64Array(shape.reduce((a, b) => a * b, 1)));
    const first = gradients.map((g) => new Float64Array(g.length));
    const second = gradients.map((g) => new Float64Array(g.length));
    const { beta1, beta2, epsilon } = ADAM;
    let steps = 0;
    let loss = 0;
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      let epochLoss = 0;
      let batches = 0;
      for (let start = 0; start < n; start += batchSize) {
        const m = Math.min(batchSize, n - start);
        for (let r = 0; r < m; r++) {
          const row = order[start + r];
          for (let c = 0; c < d; c++) xb[r * d + c] = features[row * d + c];
          yb[r] = rewards[row];
        }
        for (const g of gradients) g.fill(0);
        epochLoss += this.backward(xb, yb, m, gradients);
        steps++;
        batches++;
        const correction1 = 1 - beta1 ** steps;
        const correction2 = 1 - beta2 ** steps;
        for (let w = 0; w < gradients.length; w++) {
          const g = gradients[w];
          const mw = first[w];
          const vw = second[w];
          const weight = this.weights[w];
          for (let i = 0; i < g.length; i++) {
            mw[i] = beta1 * mw[i] + (1 - beta1) * g[i];
            vw[i] = beta2 * vw[i] + (1 - beta2) * g[i] * g[i];
            weight[i] -= (options.learningRate * (mw[i] / correction1)) / (Math.sqrt(vw[i] / correction2) + epsilon);
          }
        }
      }
      loss = epochLoss / Math.max(1, batches);
    }
    return { steps, loss };
  }

  /** Activations of every layer for m rows: [input, h1, ..., hL] and, with `output`, the prediction. */
  private forward(input: Float64Array, m: number, output: boolean): Float64Array[] {
    const L = this.hidden.length;
    const activations: Float64Array[] = [input];
    const layers = output ? L + 1 : L;
    for (let l = 0; l < layers; l++) {
      const out = new Float64Array(m * this.widths[l + 1]);
      dense(activations[l], m, this.widths[l], this.weights[2 * l], this.weights[2 * l + 1], l < L, out);
      activations.push(out);
    }
    return activations;
  }

  /** Adds the gradient of the mean squared error over m rows to `gradients`; returns the loss. */
  private backward(input: Float64Array, targets: ArrayLike<number>, m: number, gradients: Float64Array[]): number {
    const L = this.hidden.length;
    const activations = this.forward(input, m, true);
    const prediction = activations[L + 1];
    // d loss / d prediction = 2 (prediction - y) / m
    let delta = new Float64Array(m);
    let loss = 0;
    for (let r = 0; r < m; r++) {
      const error = prediction[r] - targets[r];
      loss += error * error;
      delta[r] = (2 * error) / m;
    }
    for (let l = L; l >= 0; l--) {
      const fanIn = this.widths[l];
      const units = this.widths[l + 1];
      const a = activations[l];
      const gW = gradients[2 * l];
      const gb = gradients[2 * l + 1];
      for (let r = 0; r < m; r++) {
        const o = r * units;
        for (let j = 0; j < units; j++) gb[j] += delta[o + j];
        for (let i = 0; i < fanIn; i++) {
          const x = a[r * fanIn + i];
          if (x === 0) continue;
          const w = i * units;
          for (let j = 0; j < units; j++) gW[w + j] += x * delta[o + j];
        }
      }
      if (l === 0) break;
      // upstream = delta W^T, passed through the ReLU of layer l (gradient where its output is positive)
      const W = this.weights[2 * l];
      const next = new Float64Array(m * fanIn);
      for (let r = 0; r < m; r++) {
        const o = r * units;
        for (let i = 0; i < fanIn; i++) {
          if (a[r * fanIn + i] <= 0) continue;
          const w = i * units;
          let s = 0;
          for (let j = 0; j < units; j++) s += delta[o + j] * W[w + j];
          next[r * fanIn + i] = s;
        }
      }
      delta = next;
    }
    return loss / m;
  }
}
