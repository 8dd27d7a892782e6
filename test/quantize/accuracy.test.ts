/**
 * End-to-end accuracy on real data with fixed seeds: the bundled MNIST MLP quantized from its
 * bundled digits. Thresholds are properties the papers report, with margins for the 2000-image
 * test split (one standard error is about 0.45 pt).
 */
import * as path from 'path';

import { loadDataset, DataSplits } from '../../src/data';
import { evaluate } from '../../src/eval/evaluate';
import { loadModel } from '../../src/io/model_io';
import { quantizeNetwork } from '../../src/quantize/pipeline';
import { resolveOptions } from '../../src/quantize/options';
import type * as tfjs from '@tensorflow/tfjs';

let model: tfjs.LayersModel;
let data: DataSplits;
let analog: number;

beforeAll(async () => {
  model = await loadModel(path.resolve(__dirname, '..', '..', 'models', 'mnist-mlp'));
  data = await loadDataset('mnist', { preprocess: 'raw', quiet: true });
  analog = (await evaluate(model, data.test, { quiet: true })).top1;
});

describe('bundled MNIST MLP on the bundled MNIST digits (seed 0)', () => {
  it('the analog model is the one the README describes (≥ 97 % top-1 on 2000 test digits)', () => {
    expect(analog).toBeGreaterThanOrEqual(0.97);
  });

  it('4 bits (16 levels, C = 3): GPFQ within 1 pt of analog', async () => {
    const net = await quantizeNetwork(model, data.train, resolveOptions({ bits: 4, scalar: 3, quiet: true }));
    const gpfq = (await evaluate(net.quantized, data.test, { quiet: true })).top1;
    expect(analog - gpfq).toBeLessThanOrEqual(0.01);
  });

  it('ternary, C = 3: GPFQ stays within 2 pt of analog and at least 2 pt above MSQ with the same alphabet', async () => {
    const net = await quantizeNetwork(model, data.train, resolveOptions({ bits: Math.log2(3), scalar: 3, quiet: true }));
    const gpfq = (await evaluate(net.quantized, data.test, { quiet: true })).top1;
    const msq = (await evaluate(net.baseline!, data.test, { quiet: true })).top1;
    expect(analog - gpfq).toBeLessThanOrEqual(0.02);
    expect(gpfq - msq).toBeGreaterThanOrEqual(0.02);
    // Per-layer relative errors are reported and GPFQ errors are below 1 (a real fit).
    for (const l of net.layers) expect(l.relError!.layer).toBeLessThan(1);
  });
});
