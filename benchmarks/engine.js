'use strict';
// Engine benchmarks (issue: "The GPFQ engine"): Gram accumulation throughput, GPFQ layer shapes
// on every backend (compared in one run, as ratios), and a streamed 3x3 conv layer's time and
// peak RSS (measured in a child process so its RSS is its own).
//   node benchmarks/engine.js [--quick]
const { spawnSync } = require('child_process');
const { qnn, machine, time, activations, weights, layerCase, streamGram, writeResult, table } = require('./common');

const quick = process.argv.includes('--quick');
const threads = 0;

async function gramThroughput() {
  const m = quick ? 20000 : 100000;
  const d = 1152;
  const batch = 4096;
  const pool = [activations(batch, d, 1), activations(batch, d, 2)];
  const out = [];
  for (const precision of ['float32', 'float64']) {
    for (const same of [true, false]) {
      const run = () => streamGram({ m, d, batch, pool, precision, same, backend: 'native', threads });
      const { seconds } = await time(run, { reps: quick ? 1 : 2, warmup: 1 });
      // Useful flops: G = Xq'X is a full GEMM (2 m d^2); H and K are symmetric (m d^2 each).
      const flops = same ? m * d * d : 2 * m * d * d + 2 * m * d * d;
      out.push({ case: `gram m=${m} d=${d} ${same ? 'same inputs (H)' : 'distinct inputs (G, H, K)'}`, precision, m, d, same, seconds, gflops: flops / seconds / 1e9 });
    }
  }
  return out;
}

async function gpfqShapes() {
  const shapes = [
    [1000, 784, 500],
    [5000, 784, 500],
    [2000, 2304, 256],
  ];
  const out = [];
  for (const [m, n0, n1] of shapes) {
    const { x, xq, w, levels } = layerCase(m, n0, n1);
    const base = { weights: w, n0, n1, x, xq, alphabet: levels, threads };
    const nd = await time(() => qnn.gpfq({ ...base, backend: 'native', algorithm: 'direct' }), { reps: 3 });
    const ng = await time(() => qnn.gpfq({ ...base, backend: 'native', algorithm: 'gram' }), { reps: 3 });
    const js = await time(() => qnn.gpfq({ ...base, backend: 'js', algorithm: 'direct' }), { reps: 1, warmup: 0 });
    let same = 0;
    for (let i = 0; i < nd.result.codes.length; i++) same += nd.result.codes[i] === js.result.codes[i] ? 1 : 0;
    out.push({
      shape: { m, n0, n1 },
      nativeDirectSeconds: nd.seconds,
      nativeGramSeconds: ng.seconds,
      jsDirectSeconds: js.seconds,
      speedupDirect: js.seconds / nd.seconds,
      speedupGram: js.seconds / ng.seconds,
      codesEqualNativeVsJs: same / nd.result.codes.length,
      meanRelError: Array.from(nd.result.relError).reduce((a, b) => a + b, 0) / n1,
    });
    process.stderr.write(`gpfq ${m}x${n0}x${n1}: direct ${nd.seconds.toFixed(3)} s, gram ${ng.seconds.toFixed(3)} s, js ${js.seconds.toFixed(2)} s\n`);
  }
  return out;
}

function convChild() {
  const args = [__filename, '--conv-child', ...(quick ? ['--quick'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`conv benchmark failed (status ${r.status})`);
  return JSON.parse(r.stdout);
}

// A 3x3 conv, 256 -> 256 channels, on 512 inputs of 32x32 (524,288 patch rows, d = 2304):
// batches are generated on the fly (never the whole layer input), patches are built and consumed
// in bounded chunks, then the blocked Gram-form GPFQ runs on the accumulated matrices.
async function convRun() {
  const images = quick ? 64 : 512;
  const [h, w, c, f] = [32, 32, 256, 256];
  const batch = 8;
  const kernel = weights(9 * c, f, 5);
  const levels = qnn.alphabet({ kind: 'lybrand', bits: 4, scalar: 3, weights: kernel, n0: 9 * c, n1: f });
  const acc = new qnn.GramAccumulator({ d: 9 * c, precision: 'float32', backend: 'native', threads });
  const r = new qnn.Rng32(6);
  const x = new Float32Array(batch * h * w * c);
  const xq = new Float32Array(batch * h * w * c);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < images; i += batch) {
    for (let k = 0; k < x.length; k++) {
      const v = Math.max(0, r.normal());
      x[k] = v;
      xq[k] = Math.max(0, v + 0.1 * r.normal());
    }
    await acc.addConv(x, xq, { shape: [batch, h, w, c], kernel: [3, 3], padding: 'same', imageOffset: i });
  }
  const t1 = process.hrtime.bigint();
  const q = await qnn.quantizeConv({ kernel, kernelShape: [3, 3, c, f], alphabet: levels, gram: acc, threads });
  const t2 = process.hrtime.bigint();
  const rel = Array.from(q.relError).reduce((a, b) => a + b, 0) / f;
  return {
    layer: { kernel: [3, 3], in: c, out: f, images, hw: [h, w], patchRows: acc.rows, d: 9 * c },
    gramSeconds: Number(t1 - t0) / 1e9,
    gpfqSeconds: Number(t2 - t1) / 1e9,
    totalSeconds: Number(t2 - t0) / 1e9,
    gramGflops: (4 * acc.rows * (9 * c) ** 2) / (Number(t1 - t0) / 1e9) / 1e9,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    meanRelError: rel,
  };
}

async function main() {
  if (process.argv.includes('--conv-child')) {
    process.stdout.write(JSON.stringify(await convRun()));
    return;
  }
  const info = machine();
  const gram = await gramThroughput();
  for (const g of gram) process.stderr.write(`${g.case} ${g.precision}: ${g.seconds.toFixed(3)} s, ${g.gflops.toFixed(1)} GFLOP/s\n`);
  const shapes = await gpfqShapes();
  const conv = convChild();
  process.stderr.write(`conv: ${JSON.stringify(conv)}\n`);
  writeResult(quick ? 'engine-quick' : 'engine', { machine: info, quick, gram, gpfq: shapes, conv });
  process.stdout.write(`${table(['Gram accumulation', 'precision', 'time (s)', 'GFLOP/s'], gram.map((g) => [g.case, g.precision, g.seconds.toFixed(3), g.gflops.toFixed(1)]))}\n\n`);
  process.stdout.write(
    `${table(
      ['GPFQ layer (m, N0, N1)', 'native direct (s)', 'native Gram incl. G,H,K (s)', 'pure TS (s)', 'TS / direct', 'TS / Gram', 'same codes'],
      shapes.map((s) => [`(${s.shape.m}, ${s.shape.n0}, ${s.shape.n1})`, s.nativeDirectSeconds.toFixed(3), s.nativeGramSeconds.toFixed(3), s.jsDirectSeconds.toFixed(2), `${s.speedupDirect.toFixed(0)}x`, `${s.speedupGram.toFixed(0)}x`, `${(100 * s.codesEqualNativeVsJs).toFixed(2)} %`]),
    )}\n\n`,
  );
  process.stdout.write(
    `${table(
      ['streamed conv', 'patch rows', 'Gram (s)', 'Gram GFLOP/s', 'GPFQ (s)', 'total (s)', 'peak RSS (MiB)'],
      [[`3x3 ${conv.layer.in}->${conv.layer.out}, ${conv.layer.images} x 32x32`, conv.layer.patchRows, conv.gramSeconds.toFixed(1), conv.gramGflops.toFixed(1), conv.gpfqSeconds.toFixed(2), conv.totalSeconds.toFixed(1), conv.peakRssMiB.toFixed(0)]],
    )}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
});
