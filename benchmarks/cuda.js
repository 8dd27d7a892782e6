'use strict';
// CUDA backend against the native CPU backend, in one run on one machine (issue: "CUDA backend"):
// Gram accumulation (dense rows uploaded from the host), GPFQ layer shapes (direct and Gram
// forms), and a ResNet-18-sized conv layer (3x3, 256 -> 256, 14x14, 2048 images) whose patches
// are built on the device. Every stage is timed on both backends and reported with GFLOP/s and
// the CUDA / CPU speedup; codes are compared between the backends on the same inputs.
//   node benchmarks/cuda.js [--quick]
// Needs a CUDA build of the addon (QNN_CUDA=ON or AUTO with nvcc) and a usable device.
const { qnn, machine, time, activations, weights, layerCase, streamGram, writeResult, table } = require('./common');

const quick = process.argv.includes('--quick');
const threads = 0;

const sameCodes = (a, b) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i] === b[i] ? 1 : 0;
  return n / a.length;
};
const mean = (v) => Array.from(v).reduce((s, x) => s + x, 0) / v.length;

async function gramDense() {
  const m = quick ? 20000 : 200000;
  const d = 1152;
  const batch = 8192;
  const pool = [activations(batch, d, 1), activations(batch, d, 2)];
  const out = [];
  for (const precision of ['float32', 'float64']) {
    for (const same of [true, false]) {
      const row = { case: `dense m=${m} d=${d} ${same ? 'same inputs (H)' : 'distinct inputs (G, H, K)'}`, precision, m, d, same };
      // Useful flops: G = Xq'X is a full GEMM (2 m d^2); H and K are symmetric (m d^2 each).
      const flops = same ? m * d * d : 4 * m * d * d;
      for (const backend of ['native', 'cuda']) {
        const run = async () => {
          const acc = await streamGram({ m, d, batch, pool, precision, same, backend, threads });
          const mats = await acc.matrices();
          acc.dispose();
          return mats;
        };
        const t = await time(run, { reps: 2, warmup: 1 });
        row[backend] = { seconds: t.seconds, gflops: flops / t.seconds / 1e9 };
        row[`${backend}H`] = t.result.h;
      }
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < row.nativeH.length; i++) {
        diff = Math.max(diff, Math.abs(row.nativeH[i] - row.cudaH[i]));
        scale = Math.max(scale, Math.abs(row.nativeH[i]));
      }
      delete row.nativeH;
      delete row.cudaH;
      row.maxRelDiffH = diff / scale;
      row.speedup = row.native.seconds / row.cuda.seconds;
      out.push(row);
      process.stderr.write(`${row.case} ${precision}: cpu ${row.native.seconds.toFixed(3)} s, cuda ${row.cuda.seconds.toFixed(3)} s (${row.cuda.gflops.toFixed(0)} GFLOP/s)\n`);
    }
  }
  return out;
}

async function gpfqShapes() {
  const shapes = quick
    ? [[1000, 784, 500]]
    : [
        [1000, 784, 500],
        [5000, 784, 500],
        [2000, 2304, 256],
        [10000, 2304, 2048],
        [10000, 4608, 512],
      ];
  const out = [];
  for (const [m, n0, n1] of shapes) {
    const { x, xq, w, levels } = layerCase(m, n0, n1);
    const row = { shape: { m, n0, n1 } };
    for (const algorithm of ['direct', 'gram']) {
      const base = { weights: w, n0, n1, x, xq, alphabet: levels, threads, algorithm };
      const c = await time(() => qnn.gpfq({ ...base, backend: 'native' }), { reps: 2 });
      const g = await time(() => qnn.gpfq({ ...base, backend: 'cuda' }), { reps: 3 });
      row[algorithm] = {
        cpuSeconds: c.seconds,
        cudaSeconds: g.seconds,
        speedup: c.seconds / g.seconds,
        sameCodes: sameCodes(c.result.codes, g.result.codes),
        meanRelErrorCpu: mean(c.result.relError),
        meanRelErrorCuda: mean(g.result.relError),
      };
      process.stderr.write(`gpfq ${algorithm} ${m}x${n0}x${n1}: cpu ${c.seconds.toFixed(3)} s, cuda ${g.seconds.toFixed(3)} s\n`);
    }
    out.push(row);
  }
  return out;
}

// ResNet-18 layer3-sized conv: 3x3, 256 -> 256 on 14x14 maps, 2048 images (401,408 patch rows,
// d = 2304). Inputs come in batches of 64 images from a pool of 4 seeded batches (the same bytes
// for both backends); X~ differs from X. Stages: accumulate (im2col + G, H, K), download of the
// matrices, blocked Gram-form GPFQ.
async function convLayer() {
  const images = quick ? 256 : 2048;
  const [h, w, c, f] = [14, 14, 256, 256];
  const batch = 64;
  const kernel = weights(9 * c, f, 5);
  const levels = qnn.alphabet({ kind: 'lybrand', bits: 4, scalar: 3, weights: kernel, n0: 9 * c, n1: f });
  const r = new qnn.Rng32(6);
  const pool = [];
  for (let p = 0; p < 4; p++) {
    const x = new Float32Array(batch * h * w * c);
    const xq = new Float32Array(batch * h * w * c);
    for (let k = 0; k < x.length; k++) {
      const v = Math.max(0, r.normal());
      x[k] = v;
      xq[k] = Math.max(0, v + 0.1 * r.normal());
    }
    pool.push({ x, xq });
  }
  const res = { layer: { kernel: [3, 3], in: c, out: f, images, hw: [h, w], padding: 'same', d: 9 * c } };
  const codes = {};
  for (const backend of ['native', 'cuda']) {
    for (let rep = 0; rep < 2; rep++) {
      // rep 0 warms up (CUDA context, module load); rep 1 is reported.
      const acc = new qnn.GramAccumulator({ d: 9 * c, precision: 'float32', backend, threads });
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < images; i += batch) {
        const p = pool[(i / batch) % pool.length];
        await acc.addConv(p.x, p.xq, { shape: [batch, h, w, c], kernel: [3, 3], padding: 'same', imageOffset: i });
      }
      const t1 = process.hrtime.bigint();
      await acc.matrices();
      const t2 = process.hrtime.bigint();
      const q = await qnn.quantizeConv({ kernel, kernelShape: [3, 3, c, f], alphabet: levels, gram: acc, backend, threads });
      const t3 = process.hrtime.bigint();
      const rows = acc.rows;
      acc.dispose();
      if (rep === 0) continue;
      const s = (a, b) => Number(b - a) / 1e9;
      res.layer.patchRows = rows;
      res[backend] = {
        accumulateSeconds: s(t0, t1),
        downloadSeconds: s(t1, t2),
        gpfqSeconds: s(t2, t3),
        totalSeconds: s(t0, t3),
        accumulateGflops: (4 * rows * (9 * c) ** 2) / s(t0, t1) / 1e9,
        meanRelError: mean(q.relError),
      };
      codes[backend] = q.codes;
      process.stderr.write(`conv ${backend}: ${JSON.stringify(res[backend])}\n`);
    }
  }
  res.speedupAccumulate = res.native.accumulateSeconds / res.cuda.accumulateSeconds;
  res.speedupGpfq = res.native.gpfqSeconds / res.cuda.gpfqSeconds;
  res.speedupTotal = res.native.totalSeconds / res.cuda.totalSeconds;
  res.sameCodes = sameCodes(codes.native, codes.cuda);
  return res;
}

async function main() {
  const cuda = qnn.backends().find((b) => b.name === 'cuda');
  if (!cuda || !cuda.available) {
    process.stderr.write(`benchmarks/cuda.js needs a usable CUDA device: ${cuda ? cuda.reason : 'no cuda backend entry'}\n`);
    process.exitCode = 3;
    return;
  }
  const info = { ...machine(), cuda: cuda.details };
  const gram = await gramDense();
  const shapes = await gpfqShapes();
  const conv = await convLayer();
  writeResult(quick ? 'cuda-quick' : 'cuda', { machine: info, quick, gram, gpfq: shapes, conv });
  const f = (x, n = 3) => x.toFixed(n);
  process.stdout.write(
    `${table(
      ['Gram accumulation', 'precision', 'CPU (s)', 'CUDA (s)', 'CPU GFLOP/s', 'CUDA GFLOP/s', 'CUDA / CPU'],
      gram.map((g) => [g.case, g.precision, f(g.native.seconds), f(g.cuda.seconds), f(g.native.gflops, 0), f(g.cuda.gflops, 0), `${f(g.speedup, 1)}x`]),
    )}\n\n`,
  );
  process.stdout.write(
    `${table(
      ['GPFQ (m, N0, N1)', 'CPU direct (s)', 'CUDA direct (s)', 'speedup', 'CPU Gram (s)', 'CUDA Gram (s)', 'speedup', 'same codes (direct / Gram)'],
      shapes.map((s) => [
        `(${s.shape.m}, ${s.shape.n0}, ${s.shape.n1})`,
        f(s.direct.cpuSeconds),
        f(s.direct.cudaSeconds),
        `${f(s.direct.speedup, 1)}x`,
        f(s.gram.cpuSeconds),
        f(s.gram.cudaSeconds),
        `${f(s.gram.speedup, 1)}x`,
        `${f(100 * s.direct.sameCodes, 2)} / ${f(100 * s.gram.sameCodes, 2)} %`,
      ]),
    )}\n\n`,
  );
  const L = conv.layer;
  process.stdout.write(
    `${table(
      ['conv 3x3 256->256, 14x14', 'backend', 'accumulate (s)', 'GFLOP/s', 'download (s)', 'GPFQ (s)', 'total (s)'],
      ['native', 'cuda'].map((b) => [`${L.images} images, ${L.patchRows} rows`, b, f(conv[b].accumulateSeconds), f(conv[b].accumulateGflops, 0), f(conv[b].downloadSeconds), f(conv[b].gpfqSeconds), f(conv[b].totalSeconds)]),
    )}\n\nspeedups: accumulate ${f(conv.speedupAccumulate, 1)}x, GPFQ ${f(conv.speedupGpfq, 1)}x, total ${f(conv.speedupTotal, 1)}x; same codes ${f(100 * conv.sameCodes, 2)} %\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
});
