'use strict';
// Every quantizer of the project on the same models, data and (for the alphabet methods)
// alphabets: MSQ, bin, fixed-point, GPTQ and GPFQ at 3 and 4 bits, INQ at 5 bits with retraining;
// top-1 and export sizes. Also checks that GPFQ with bias correction is not worse than without it
// on the last layer's output error, measured on the test set.
//   node experiments/compare_methods.js [mlp|cnn ...] [--seed N] [--inq-train-samples N]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { root, req, writeResult, table, pct } = require('./common');

const { runQuantize } = req('quantize/run');
const { loadModel } = req('io/model_io');
const { loadDataset } = req('data');
const { getTf } = req('tf/runtime');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seed = arg('--seed', 0);
const inqTrain = arg('--inq-train-samples', undefined);
const which = process.argv.slice(2).filter((a) => a === 'mlp' || a === 'cnn');

const MODELS = {
  mlp: { name: 'MNIST MLP (bundled, Lybrand architecture)', model: 'models/mnist-mlp', data: 'mnist', extra: {} },
  cnn: { name: 'Fashion-MNIST CNN (Lybrand CIFAR-10 architecture, 28x28x1)', model: 'models/fashion-cnn', data: 'fashion-mnist', extra: { samples: 2000 } },
};

const CONFIGS = [
  { label: 'MSQ', method: 'msq', bits: [3, 4] },
  { label: 'bin', method: 'bin', bits: [3, 4] },
  { label: 'fixed-point', method: 'fixed-point', bits: [3, 4] },
  { label: 'GPTQ', method: 'gptq', bits: [3, 4] },
  { label: 'GPFQ', method: 'gpfq', bits: [3, 4] },
  { label: 'GPFQ + bias correction (last layer)', method: 'gpfq', bits: [3, 4], opts: { biasCorrection: 'last' } },
  { label: 'INQ (retrained)', method: 'inq', bits: [5] },
];

/** ||(X W + b) − (X~ Q + b')||_F / ||X W + b||_F of the last Dense layer on the test set. */
async function lastLayerError(tf, analog, quant, test) {
  const idx = analog.layers.length - 1;
  const layer = analog.layers[idx];
  const sub = (m) => tf.model({ inputs: m.inputs, outputs: m.layers[idx].input });
  const a = sub(analog);
  const q = sub(quant);
  const [W, b] = layer.getWeights().map((t) => t.arraySync());
  const [Q, bq] = quant.layers[idx].getWeights().map((t) => t.arraySync());
  let num = 0;
  let den = 0;
  const size = test.shape.reduce((x, y) => x * y, 1);
  for (let s = 0; s < test.count; s += 500) {
    const n = Math.min(500, test.count - s);
    const xb = tf.tensor(test.x.subarray(s * size, (s + n) * size), [n, ...test.shape]);
    const X = a.predict(xb).arraySync();
    const Xq = q.predict(xb).arraySync();
    xb.dispose();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < b.length; j++) {
        let y = b[j];
        let yq = bq[j];
        for (let t = 0; t < X[i].length; t++) {
          y += X[i][t] * W[t][j];
          yq += Xq[i][t] * Q[t][j];
        }
        num += (y - yq) ** 2;
        den += y * y;
      }
    }
  }
  return Math.sqrt(num / den);
}

async function main() {
  const tf = await getTf();
  const results = {};
  const mdParts = [];
  for (const key of which.length ? which : Object.keys(MODELS)) {
    const M = MODELS[key];
    const modelDir = path.join(root, M.model);
    if (!fs.existsSync(modelDir)) throw new Error(`${modelDir} is missing`);
    const rows = [];
    let analog;
    let analogSize;
    const corrections = [];
    for (const c of CONFIGS) {
      for (const bits of c.bits) {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'qnn-compare-'));
        fs.rmSync(out, { recursive: true });
        const extra = c.method === 'inq' ? { inqEpochs: 1, trainSamples: inqTrain ?? (key === 'cnn' ? 10000 : undefined) } : {};
        const t = Date.now();
        const m = await runQuantize({ model: modelDir, data: M.data, method: c.method, bits, seed, out, quiet: true, ...M.extra, ...extra, ...(c.opts || {}) });
        analog = m.accuracy.analog;
        analogSize = m.sizes.analog;
        const size = m.sizes.packed ?? m.sizes.inq;
        const row = { label: c.label, method: c.method, bits, top1: m.accuracy.quantized.top1, top5: m.accuracy.quantized.top5, tfjs: m.sizes.tfjs, compact: size, seconds: (Date.now() - t) / 1000, settings: { ...(c.opts || {}), ...extra } };
        if (c.method === 'gpfq') {
          const quant = await loadModel(path.join(out, 'model'));
          const model = await loadModel(modelDir);
          const data = await loadDataset(M.data, { seed, quiet: true });
          row.lastLayerOutputError = await lastLayerError(tf, model, quant, data.test);
          corrections.push({ bits, biasCorrection: Boolean(c.opts?.biasCorrection), error: row.lastLayerOutputError });
        }
        rows.push(row);
        fs.rmSync(out, { recursive: true, force: true });
        process.stderr.write(`${key} ${c.label} ${bits} bits: top-1 ${pct(row.top1)} (${row.seconds.toFixed(0)} s)\n`);
      }
    }
    const inq = rows.find((r) => r.method === 'inq');
    const claims = {
      inq5WithinOnePointOfAnalog: analog.top1 - inq.top1 <= 0.01,
      biasCorrectionNotWorseOnLastLayer: [3, 4].every((b) => {
        const w = corrections.find((x) => x.bits === b && x.biasCorrection);
        const wo = corrections.find((x) => x.bits === b && !x.biasCorrection);
        return w.error <= wo.error;
      }),
    };
    results[key] = { model: M.name, analog, analogSize, rows, corrections, claims };
    const mb = (s) => (s ? `${(s.bytes / 2 ** 20).toFixed(2)} / ${(s.gzipBytes / 2 ** 20).toFixed(2)}` : '');
    mdParts.push(
      `### ${M.name}\n\nAnalog: ${pct(analog.top1)} % top-1 on ${analog.count} test images, ${mb(analogSize)} MB (raw / gzip).\n\n` +
        table(
          ['method', 'bits', 'top-1 %', 'TF.js export MB (raw / gzip)', 'packed or INQ export MB (raw / gzip)', 'last-layer output error'],
          rows.map((r) => [r.label, r.bits, pct(r.top1), mb(r.tfjs), mb(r.compact), r.lastLayerOutputError === undefined ? '' : r.lastLayerOutputError.toFixed(4)]),
        ),
    );
  }
  const md = mdParts.join('\n\n');
  writeResult(`compare_methods_seed${seed}${which.length === 1 ? `_${which[0]}` : ''}`, { seed, results }, md);
  process.stdout.write(`${md}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
});
