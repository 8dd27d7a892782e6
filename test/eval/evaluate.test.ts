/** predict / topK / evaluate: known answers on hand-made models and score tables. */
import type * as tfjs from '@tensorflow/tfjs';

import type { Dataset } from '../../src/data';
import { checkModelMatches, evaluate, percent, predict, topK } from '../../src/eval/evaluate';
import { getTf, type Tf } from '../../src/tf/runtime';
import { expectQnnError } from '../train/helpers';

let tf: Tf;
beforeAll(async () => {
  tf = await getTf();
});

describe('topK', () => {
  // 4 samples × 3 classes; the comments give each class's rank (0 = top).
  const probs = new Float32Array([
    0.7, 0.2, 0.1, // ranks 0, 1, 2
    0.1, 0.3, 0.6, // ranks 2, 1, 0
    0.2, 0.5, 0.3, // ranks 2, 0, 1
    0.4, 0.4, 0.2, // a tie: ranks 0, 1, 2
  ]);

  test('known answers for k = 1, 2, 3', () => {
    const y = new Int32Array([0, 1, 0, 1]);
    // Sample 0: label 0 is top → hits at k ≥ 1. Sample 1: label 1 is 2nd → k ≥ 2.
    // Sample 2: label 0 (0.2) is 3rd → k = 3. Sample 3: label 1 ties with class 0, which comes
    // first → 2nd → k ≥ 2.
    expect(topK(probs, y, 3, 1)).toBe(1 / 4);
    expect(topK(probs, y, 3, 2)).toBe(3 / 4);
    expect(topK(probs, y, 3, 3)).toBe(1);
    expect(topK(probs, y, 3, 7)).toBe(1);
  });

  test('ties go to the lower index (k = 1 is argmax); a constant row scores only for label 0', () => {
    const flat = new Float32Array([0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
    expect(topK(flat, new Int32Array([0, 3]), 4, 1)).toBe(0.5);
    expect(topK(flat, new Int32Array([3, 3]), 4, 3)).toBe(0);
    expect(topK(flat, new Int32Array([3, 3]), 4, 4)).toBe(1);
  });

  test('a NaN score for the label never counts; NaN elsewhere does not outrank', () => {
    const p = new Float32Array([Number.NaN, 0.1, 0.2, Number.NaN]);
    expect(topK(p, new Int32Array([0, 1]), 2, 2)).toBe(0);
    expect(topK(p, new Int32Array([1, 0]), 2, 1)).toBe(1);
  });

  test('mismatched sizes and bad labels are QnnErrors', async () => {
    await expectQnnError(() => topK(probs, new Int32Array(3), 3, 1), 'QNN_E_SHAPE', /12 values, expected 3 labels × 3 classes/);
    await expectQnnError(() => topK(probs, new Int32Array([0, 1, 2, 3]), 3, 1), 'QNN_E_DATA', /label 3 of sample 3/);
    await expectQnnError(() => topK(probs, new Int32Array(4), 3, 0), 'QNN_E_RANGE');
    await expectQnnError(() => topK(new Float32Array(0), new Int32Array(0), 3, 1), 'QNN_E_EMPTY');
  });
});

/** Dense 2 → 3, linear: out = [x0, x1, x0 + x1] + b with b = [0, 0, −1]. */
function handModel(): tfjs.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 3, name: 'hand' })] });
  m.setWeights([tf.tensor2d([1, 0, 1, 0, 1, 1], [2, 3]), tf.tensor1d([0, 0, -1])]);
  return m;
}

function handData(): Dataset {
  // Rows: (3, 1) → [3, 1, 3] (argmax 0, tie with class 2 goes to 0); (1, 2) → [1, 2, 2] (argmax 1);
  // (2, 2) → [2, 2, 3] (argmax 2); (0, 0) → [0, 0, −1] (argmax 0); (5, 1) → [5, 1, 5]; (1, 4) → [1, 4, 4]; (4, 4) → [4, 4, 7].
  const x = new Float32Array([3, 1, 1, 2, 2, 2, 0, 0, 5, 1, 1, 4, 4, 4]);
  return { x, y: new Int32Array([0, 1, 2, 1, 2, 1, 0]), count: 7, shape: [2], numClasses: 3 };
}

describe('predict', () => {
  test('batches give the exact hand-computed outputs and free every tensor', async () => {
    const m = handModel();
    const d = handData();
    const expected = [3, 1, 3, 1, 2, 2, 2, 2, 3, 0, 0, -1, 5, 1, 5, 1, 4, 4, 4, 4, 7];
    const before = tf.memory().numTensors;
    for (const batchSize of [1, 3, 7, 100]) {
      expect(Array.from(await predict(m, d.x, d.shape, { batchSize }))).toEqual(expected);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  test('inputs that do not fit the model are QnnErrors', async () => {
    const m = handModel();
    await expectQnnError(predict(m, new Float32Array(6), [3]), 'QNN_E_SHAPE', /shape \[3\] but model '.*' expects \[2\]/);
    await expectQnnError(predict(m, new Float32Array(5), [2]), 'QNN_E_SHAPE', /5 values are not a whole number/);
    await expectQnnError(predict(m, new Float32Array(4), [2], { batchSize: 0 }), 'QNN_E_RANGE', /batch size/);
  });
});

describe('evaluate', () => {
  test('top-1 / top-5 of the hand-made model', async () => {
    const r = await evaluate(handModel(), handData(), { batchSize: 2, quiet: true });
    // Predicted argmax per row: 0, 1, 2, 0, 0, 1, 2 vs labels 0, 1, 2, 1, 2, 1, 0 → 4 of 7.
    expect(r.top1).toBe(4 / 7);
    // 3 classes: top-5 means top-3, always right.
    expect(r.top5).toBe(1);
    expect(r.count).toBe(7);
    expect(r.seconds).toBeGreaterThanOrEqual(0);
  });

  test('a model whose outputs do not match the classes is refused', async () => {
    await expectQnnError(evaluate(handModel(), { ...handData(), numClasses: 4 }, { quiet: true }), 'QNN_E_DATA', /outputs \[3\] scores but the data has 4 classes/);
    expect(() => checkModelMatches(handModel(), { shape: [2, 1], numClasses: 3 }, 'test split')).toThrow(/^test split: the samples have shape \[2, 1\]/);
  });

  test('percent formats fractions', () => {
    expect(percent(0.97854)).toBe('97.85%');
    expect(percent(1)).toBe('100.00%');
  });
});
