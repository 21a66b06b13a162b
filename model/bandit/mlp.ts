/**
 * The representation network of NeuralLinear: an MLP from an arm's features to a predicted reward,
 * whose last hidden layer z(x) is the representation the Bayesian head works on.
 *
 * Gradients are written out by hand (backpropagation through dense + ReLU layers and a squared loss)
 * instead of tf.variableGrads: tfjs-core's Node build registers no gradients, and its only gradient
 * registration module (dist/register_all_gradients.js) is an ESM build Node cannot load (directory
 * imports), so without the @tensorflow/tfjs union package tf.variableGrads fails with "gradient
 * function not found". Six ops per layer are also fewer than the tape would record. Updates use
 * tf.train.adam's applyGradients on the tf.variable weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '#model/random.ts';

let instances = 0;

export interface TrainingReport {
  steps: number;
  /** mean squared error of the last epoch, over its minibatches */
  loss: number;
}

export class RepresentationNetwork {
  /** [W1, b1, ..., WL, bL, Wout, bout], W [in, out], b [out] */
  private readonly variables: tf.Variable[];
  private readonly prefix: string;

  /**
   * Weights from `initial` (a saved network) or Glorot-uniform draws from `rng` (biases 0).
   * @example const net = new RepresentationNetwork(32, [32, 16], new Rng(1))
   */
  constructor(
    readonly inputDimension: number,
    readonly hidden: readonly number[],
    initial: Rng | readonly Float32Array[],
  ) {
    this.prefix = `sto-bandit-nl${instances++}`;
    const shapes = RepresentationNetwork.shapes(inputDimension, hidden);
    this.variables = shapes.map((shape, i) => {
      let values: Float32Array;
      if (Array.isArray(initial)) {
        values = (initial as readonly Float32Array[])[i];
      } else {
        values = new Float32Array(shape.reduce((a, b) => a * b, 1));
        if (shape.length === 2) {
          const limit = Math.sqrt(6 / (shape[0] + shape[1]));
          const rng = initial as Rng;
          for (let j = 0; j < values.length; j++) values[j] = (2 * rng.next() - 1) * limit;
        }
      }
      const init = tf.tensor(values, shape);
      const variable = tf.variable(init, true, `${this.prefix}/${i}`);
      init.dispose();
      return variable;
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
   * z(x) for every row of X: [N, representationDimension]. Call inside tf.tidy.
   * @example const z = tf.tidy(() => net.representation(X))
   */
  representation(X: tf.Tensor2D): tf.Tensor2D {
    let a = X;
    for (let l = 0; l < this.hidden.length; l++) {
      a = tf.fused.matMul({
        a,
        b: this.variables[2 * l] as tf.Tensor2D,
        bias: this.variables[2 * l + 1],
        activation: 'relu',
      }) as tf.Tensor2D;
    }
    return a;
  }

  /**
   * Predicted reward for every row of X: [N, 1]. Call inside tf.tidy.
   * @example const yhat = tf.tidy(() => net.predict(X))
   */
  predict(X: tf.Tensor2D): tf.Tensor2D {
    const L = this.hidden.length;
    return tf.fused.matMul({
      a: this.representation(X),
      b: this.variables[2 * L] as tf.Tensor2D,
      bias: this.variables[2 * L + 1],
    }) as tf.Tensor2D;
  }

  /**
   * Mean squared error and its gradient for every weight, by backpropagation. Call inside tf.tidy.
   * @example const { loss, gradients } = tf.tidy(() => net.lossAndGradients(X, y))
   */
  lossAndGradients(X: tf.Tensor2D, y: tf.Tensor2D): { loss: tf.Scalar; gradients: tf.Tensor[] } {
    const L = this.hidden.length;
    const activations: tf.Tensor2D[] = [X];
    for (let l = 0; l < L; l++) {
      activations.push(
        tf.relu(
          tf.add(tf.matMul(activations[l], this.variables[2 * l] as tf.Tensor2D), this.variables[2 * l + 1]),
        ) as tf.Tensor2D,
      );
    }
    const top = activations[L];
    const prediction = tf.add(tf.matMul(top, this.variables[2 * L] as tf.Tensor2D), this.variables[2 * L + 1]);
    const error = tf.sub(prediction, y);
    const n = X.shape[0];
    const loss = tf.mean(tf.square(error)) as tf.Scalar;
    const gradients: tf.Tensor[] = new Array(this.variables.length);
    // d loss / d prediction = 2 (prediction - y) / n
    let delta = tf.mul(error, tf.scalar(2 / n)) as tf.Tensor2D;
    gradients[2 * L] = tf.matMul(top, delta, true, false);
    gradients[2 * L + 1] = tf.sum(delta, 0);
    let upstream = tf.matMul(delta, this.variables[2 * L] as tf.Tensor2D, false, true);
    for (let l = L - 1; l >= 0; l--) {
      // ReLU passes the gradient where its output is positive
      delta = tf.mul(upstream, tf.step(activations[l + 1])) as tf.Tensor2D;
      gradients[2 * l] = tf.matMul(activations[l], delta, true, false);
      gradients[2 * l + 1] = tf.sum(delta, 0);
      if (l > 0) upstream = tf.matMul(delta, this.variables[2 * l] as tf.Tensor2D, false, true);
    }
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
    options: { epochs: number; batchSize: number; learningRate: number },
    rng: Rng,
  ): TrainingReport {
    const d = this.inputDimension;
    const optimizer = tf.train.adam(options.learningRate);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const batchSize = Math.min(options.batchSize, n);
    const xb = new Float32Array(batchSize * d);
    const yb = new Float32Array(batchSize);
    let steps = 0;
    let loss = 0;
    try {
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
            xb.set(features.subarray(row * d, row * d + d), r * d);
            yb[r] = rewards[row];
          }
          const stepLoss = tf.tidy(() => {
            const X = tf.tensor2d(xb.subarray(0, m * d), [m, d]);
            const y = tf.tensor2d(yb.subarray(0, m), [m, 1]);
            const { loss: l, gradients } = this.lossAndGradients(X, y);
            optimizer.applyGradients(this.variables.map((v, i) => ({ name: v.name, tensor: gradients[i] })));
            return l.dataSync()[0];
          });
          epochLoss += stepLoss;
          batches++;
          steps++;
        }
        loss = epochLoss / Math.max(1, batches);
      }
    } finally {
      optimizer.dispose();
    }
    return { steps, loss };
  }

  /** Copies of the weights, in the order of `shapes`. @example net.weights()[0].length // inputDimension * hidden[0] */
  weights(): Float32Array[] {
    return this.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}
