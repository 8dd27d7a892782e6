'use strict';
// Shared helpers for the benchmark scripts: machine facts, timing, seeded data, JSON output.
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
if (!fs.existsSync(path.join(dist, 'index.js'))) {
  process.stderr.write('benchmarks need the compiled package: run `npm run build` first\n');
  process.exit(1);
}
const qnn = require(dist);

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0] ? cpus[0].model : 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: os.loadavg(),
    build: qnn.buildInfo(),
    backends: qnn.backends().map((b) => ({ name: b.name, available: b.available, reason: b.reason })),
  };
}

/** Best wall time of `reps` runs after `warmup` runs; returns seconds and the last result. */
async function time(fn, { reps = 3, warmup = 1 } = {}) {
  let result;
  for (let i = 0; i < warmup; i++) result = await fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = process.hrtime.bigint();
    result = await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return { seconds: best, result };
}

/** Correlated ReLU activations (rows x d), seeded; xq = relu(x + noise). */
function activations(rows, d, seed) {
  const r = new qnn.Rng32(seed);
  const x = new Float32Array(rows * d);
  const xq = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) {
    const c = r.normal();
    for (let t = 0; t < d; t++) {
      const v = Math.max(0, 0.7 * c + r.normal());
      x[i * d + t] = v;
      xq[i * d + t] = Math.max(0, v + 0.1 * r.normal());
    }
  }
  return { x, xq };
}

function weights(n0, n1, seed) {
  const r = new qnn.Rng32(seed);
  return new Float32Array(n0 * n1).map(() => 0.05 * r.normal());
}

/** A seeded GPFQ layer problem: activations (m x n0, X~ != X), weights, 16-level Lybrand alphabet. */
function layerCase(m, n0, n1) {
  const { x, xq } = activations(m, n0, 3);
  const w = weights(n0, n1, 4);
  const levels = qnn.alphabet({ kind: 'lybrand', bits: 4, scalar: 3, weights: w, n0, n1 });
  return { x, xq, w, levels };
}

/** Streams m dense rows, `batch` at a time from a pool of batches, into a new GramAccumulator. */
async function streamGram({ m, d, batch, pool, precision, same, backend, threads }) {
  const acc = new qnn.GramAccumulator({ d, precision, same, backend, threads });
  for (let r = 0, i = 0; r < m; r += batch, i++) {
    const rows = Math.min(batch, m - r);
    const p = pool[i % pool.length];
    await acc.add(p.x.subarray(0, rows * d), same ? undefined : p.xq.subarray(0, rows * d));
  }
  return acc;
}

function writeResult(name, data) {
  const file = path.join(__dirname, 'results', `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  fs.renameSync(tmp, file);
  process.stderr.write(`wrote ${path.relative(root, file)}\n`);
}

function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

module.exports = { qnn, machine, time, activations, weights, layerCase, streamGram, writeResult, table, root };
