import { loadDataset, DataSplits } from '../../src/data';
import { quantizeNetwork } from '../../src/quantize/pipeline';
import { planNetwork } from '../../src/quantize/network';
import { resolveOptions } from '../../src/quantize/options';
import { alphabetGrid } from '../../src/engine/alphabet';
import { getTf, Tf } from '../../src/tf/runtime';
import { QnnError } from '../../src/errors';
import { mlp, residualCnn } from './models';

let tf: Tf;
let data: DataSplits;

beforeAll(async () => {
  tf = await getTf();
  data = await loadDataset('mnist', { preprocess: 'unit', quiet: true, maxTrain: 600, maxTest: 200 });
});

const quiet = { quiet: true, samples: 300, batchSize: 128 };

function kernel(model: import('@tensorflow/tfjs').LayersModel, name: string): Float32Array {
  const l = model.getLayer(name);
  return Float32Array.from(l.getWeights()[0].dataSync());
}

describe('network planning', () => {
  it('quantizes Dense / Conv2D / DepthwiseConv2D and keeps the rest as it is', () => {
    const plan = planNetwork(residualCnn(tf), { skipLayers: [], keepLastFloat: false, skipUnsupported: false });
    expect(plan.quantize.map((l) => `${l.name}:${l.kind}`)).toEqual(['c1:conv2d', 'branch_a:conv2d', 'branch_dw:depthwise', 'c2:conv2d', 'head:dense']);
    const c2 = plan.quantize.find((l) => l.name === 'c2')!;
    expect(c2.conv).toEqual({ kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padding: 'valid' });
  });

  it('--layers, --skip-layers and --keep-last-float select layers; unknown names are errors', () => {
    const m = mlp(tf);
    const base = { skipLayers: [], keepLastFloat: false, skipUnsupported: false };
    expect(planNetwork(m, { ...base, layers: ['fc2', 'out'] }).quantize.map((l) => l.name)).toEqual(['fc2', 'out']);
    expect(planNetwork(m, { ...base, skipLayers: ['fc1'] }).quantize.map((l) => l.name)).toEqual(['fc2', 'out']);
    const p = planNetwork(m, { ...base, keepLastFloat: true });
    expect(p.quantize.map((l) => l.name)).toEqual(['fc1', 'fc2']);
    expect(p.skipped).toEqual([{ name: 'out', className: 'Dense', reason: '--keep-last-float' }]);
    expect(() => planNetwork(m, { ...base, layers: ['nope'] })).toThrow(/layer 'nope' is not in the model/);
  });

  it('layers with weights that cannot be quantized are listed, and kept float with skipUnsupported', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv1d({ inputShape: [12, 3], filters: 4, kernelSize: 3, name: 'temporal' }),
        tf.layers.lstm({ units: 5, name: 'recurrent' }),
        tf.layers.dense({ units: 2, name: 'fc' }),
      ],
    });
    let err: unknown;
    try {
      planNetwork(m, { skipLayers: [], keepLastFloat: false, skipUnsupported: false });
    } catch (e) {
      err = e;
    }
    expect((err as QnnError).code).toBe('QNN_E_UNSUPPORTED');
    expect((err as Error).message).toMatch(/temporal \(Conv1D\), recurrent \(LSTM\)/);
    expect((err as Error).message).toMatch(/--skip-unsupported/);
    const p = planNetwork(m, { skipLayers: [], keepLastFloat: false, skipUnsupported: true });
    expect(p.quantize.map((l) => l.name)).toEqual(['fc']);
    expect(p.unsupported.map((u) => u.name)).toEqual(['temporal', 'recurrent']);
  });
});

describe('quantizeNetwork', () => {
  it('functional CNN with a residual add: every quantized kernel is on its layer alphabet, the rest is untouched', async () => {
    const model = residualCnn(tf);
    const o = resolveOptions({ ...quiet, preset: 'modern', bits: 3 });
    const r = await quantizeNetwork(model, data.train, o);
    expect(r.layers.map((l) => l.name)).toEqual(['c1', 'branch_a', 'branch_dw', 'c2', 'head']);
    expect(r.layers[0].sameInputs).toBe(true);
    expect(r.layers.slice(1).every((l) => !l.sameInputs)).toBe(true);
    expect(r.layers.find((l) => l.name === 'branch_dw')!.groups).toBe(6);
    for (const rec of r.layers) {
      const w = kernel(model, rec.name);
      const ks = rec.kernelShape;
      const n1 = rec.kind === 'depthwise' ? ks[2] * ks[3] : ks[ks.length - 1];
      const grid = alphabetGrid({ kind: 'zzs-uniform', bits: 3, scalar: o.scalar, weights: w, n0: w.length / n1, n1 });
      const levels = new Set(Array.from(grid.levels));
      const q = kernel(r.quantized, rec.name);
      expect(Array.from(q).every((v) => levels.has(v))).toBe(true);
      expect(rec.relError!.layer).toBeGreaterThan(0);
      expect(rec.relError!.layer).toBeLessThan(1);
      expect(rec.rows).toBeGreaterThan(0);
    }
    // Biases and non-quantized layers keep their analog values.
    const a = model.getLayer('head').getWeights()[1].dataSync();
    const b = r.quantized.getLayer('head').getWeights()[1].dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    // The analog model is unchanged.
    const c1 = kernel(model, 'c1');
    expect(c1.some((v) => !new Set(Array.from(kernel(r.quantized, 'c1'))).has(v))).toBe(true);
  });

  it('is deterministic for a seed, and the seed matters for the calibration subset', async () => {
    const model = mlp(tf);
    const run = async (seed: number) => {
      const r = await quantizeNetwork(model, data.train, resolveOptions({ ...quiet, seed, bits: 2 }));
      return ['fc1', 'fc2', 'out'].map((n) => Array.from(kernel(r.quantized, n)));
    };
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    expect(await run(6)).not.toEqual(a);
  });

  it('direct and Gram forms give the same network in float64', async () => {
    const model = mlp(tf);
    const nets = [];
    for (const algorithm of ['direct', 'gram'] as const) {
      nets.push(await quantizeNetwork(model, data.train, resolveOptions({ ...quiet, algorithm, precision: 'float64', bits: 3 })));
    }
    for (const n of ['fc1', 'fc2', 'out']) expect(Array.from(kernel(nets[1].quantized, n))).toEqual(Array.from(kernel(nets[0].quantized, n)));
  });

  it("method 'msq' rounds each kernel to its alphabet without data and builds no baseline", async () => {
    const model = mlp(tf);
    const r = await quantizeNetwork(model, data.train, resolveOptions({ ...quiet, method: 'msq', bits: 2 }));
    expect(r.baseline).toBeUndefined();
    expect(r.layers.every((l) => l.algorithm === 'none' && l.rows === 0)).toBe(true);
    const w = kernel(model, 'fc2');
    const grid = alphabetGrid({ kind: 'lybrand', bits: 2, scalar: 3, weights: w, n0: 32, n1: 16 });
    const q = kernel(r.quantized, 'fc2');
    for (let i = 0; i < w.length; i++) {
      const d = grid.levels.map((l) => Math.abs(l - w[i]));
      expect(q[i]).toBe(grid.levels[d.indexOf(Math.min(...d))]);
    }
  });
});
