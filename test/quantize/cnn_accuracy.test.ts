/**
 * End-to-end on real Fashion-MNIST with the bundled Lybrand CNN (6 conv + 2 dense layers, conv
 * layers through streaming im2col + Gram): 16 levels, fixed seed. Small settings keep it fast:
 * 512 calibration images, a stratified 2,000-image test subset (one standard error ≈ 0.65 pt).
 */
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { loadDataset, DataSplits } from '../../src/data';
import { evaluate } from '../../src/eval/evaluate';
import { loadModel } from '../../src/io/model_io';
import { quantizeNetwork } from '../../src/quantize/pipeline';
import { resolveOptions } from '../../src/quantize/options';

let model: tfjs.LayersModel;
let data: DataSplits;

beforeAll(async () => {
  model = await loadModel(path.resolve(__dirname, '..', '..', 'models', 'fashion-cnn'));
  data = await loadDataset('fashion-mnist', { quiet: true, maxTest: 2000 });
});

it('Fashion-MNIST CNN at 4 bits: GPFQ within 1.5 pt of analog and not below MSQ; conv layers use the Gram form', async () => {
  const analog = (await evaluate(model, data.test, { quiet: true })).top1;
  const net = await quantizeNetwork(model, data.train, resolveOptions({ bits: 4, samples: 512, quiet: true }));
  const gpfq = (await evaluate(net.quantized, data.test, { quiet: true })).top1;
  const msq = (await evaluate(net.baseline!, data.test, { quiet: true })).top1;
  expect(analog).toBeGreaterThan(0.88);
  expect(analog - gpfq).toBeLessThanOrEqual(0.015);
  expect(gpfq).toBeGreaterThanOrEqual(msq);
  const convs = net.layers.filter((l) => l.kind === 'conv2d');
  expect(convs).toHaveLength(6);
  for (const l of convs) {
    expect(l.algorithm).toBe('gram');
    expect(l.groups).toBe(l.kernelShape[2]); // Lybrand channel-parallel: one group per input channel
    expect(l.relError!.layer).toBeLessThan(0.5);
  }
}, 600000);
