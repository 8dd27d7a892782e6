/**
 * metrics.json (everything: settings, seed, data, accuracies, per-layer errors and times, sizes,
 * round-trip check) and metrics.csv with the seed repositories' columns (Lybrand & Saab:
 * data_set, analog_model, serialized_quantized_model, q_train_size, bits, alphabet_scalar,
 * analog_test_acc, sd_test_acc, msq_test_acc, quantization_time) plus ours.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { RunMetrics } from './run';

function csvCell(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV row per run; the first ten columns are the seed code's. */
export function csvRow(m: RunMetrics): Record<string, unknown> {
  const s = m.settings;
  const gpfq = s.method === 'gpfq';
  const mean = (f: (l: RunMetrics['layers'][number]) => number) => (m.layers.length ? m.layers.reduce((a, l) => a + f(l), 0) / m.layers.length : undefined);
  return {
    data_set: m.data.spec,
    analog_model: s.model,
    serialized_quantized_model: path.join(s.out, 'model'),
    q_train_size: m.data.calibrationImages,
    bits: s.bits,
    alphabet_scalar: s.scalar,
    analog_test_acc: m.accuracy.analog.top1,
    sd_test_acc: gpfq ? m.accuracy.quantized.top1 : '',
    msq_test_acc: m.accuracy.baseline ? m.accuracy.baseline.top1 : s.method === 'msq' ? m.accuracy.quantized.top1 : '',
    quantization_time: m.times.quantize,
    method: s.method,
    quantized_test_acc: m.accuracy.quantized.top1,
    analog_top5: m.accuracy.analog.top5,
    quantized_top5: m.accuracy.quantized.top5,
    msq_top5: m.accuracy.baseline?.top5,
    preset: s.preset,
    alphabet: s.alphabet,
    percentile: s.percentile,
    conv_mode: s.convMode,
    retain_rate: s.retainRate,
    algorithm: s.algorithm,
    precision: s.precision,
    test_size: m.accuracy.analog.count,
    seed: s.seed,
    analog_bytes: m.sizes.analog.bytes,
    tfjs_bytes: m.sizes.tfjs?.bytes,
    tfjs_gzip_bytes: m.sizes.tfjs?.gzipBytes,
    packed_bytes: m.sizes.packed?.bytes,
    inq_bytes: m.sizes.inq?.bytes,
    roundtrip_max_abs_diff: m.roundTrip?.tfjsMaxAbsDiffLogits,
    mean_layer_rel_error: mean((l) => l.relError?.layer ?? NaN),
    sparsity: mean((l) => l.sparsity),
    bias_correction: s.biasCorrection,
    tensor_rel_error_min: m.tensorSummary?.min,
    tensor_rel_error_max: m.tensorSummary?.max,
    tensor_rel_error_mean: m.tensorSummary?.mean,
    created_at: m.createdAt,
  };
}

export function writeMetrics(dir: string, m: RunMetrics): void {
  fs.writeFileSync(path.join(dir, 'metrics.json'), `${JSON.stringify(m, null, 2)}\n`);
  const row = csvRow(m);
  fs.writeFileSync(path.join(dir, 'metrics.csv'), `${Object.keys(row).join(',')}\n${Object.values(row).map(csvCell).join(',')}\n`);
}

function pct(v: number | undefined): string {
  return v === undefined ? '-' : `${(100 * v).toFixed(2)} %`;
}

function mb(b: { bytes: number; gzipBytes: number } | undefined): string {
  return b ? `${(b.bytes / 2 ** 20).toFixed(2)} MB / ${(b.gzipBytes / 2 ** 20).toFixed(2)} MB` : '-';
}

/** The table the CLI prints: accuracy, size and time of the analog and quantized networks. */
export function summaryTable(m: RunMetrics): string {
  const s = m.settings;
  const name = `${s.method.toUpperCase()} ${s.bits} bits`;
  const baselineName = `MSQ ${s.bits} bits (baseline, same alphabets)`;
  const rows: string[][] = [
    ['network', 'top-1', 'top-5', 'size raw / gzip', 'time'],
    ['analog (float32)', pct(m.accuracy.analog.top1), pct(m.accuracy.analog.top5), mb(m.sizes.analog), '-'],
    [`${name} (tfjs uint8/16)`, pct(m.accuracy.quantized.top1), pct(m.accuracy.quantized.top5), mb(m.sizes.tfjs), `${m.times.quantize.toFixed(1)} s`],
  ];
  if (m.sizes.packed) rows.push([`${name} (packed)`, pct(m.accuracy.quantized.top1), pct(m.accuracy.quantized.top5), mb(m.sizes.packed), '']);
  if (m.sizes.inq) rows.push([`${name} (INQ exponents)`, pct(m.accuracy.quantized.top1), pct(m.accuracy.quantized.top5), mb(m.sizes.inq), '']);
  if (m.accuracy.baseline) rows.push([baselineName, pct(m.accuracy.baseline.top1), pct(m.accuracy.baseline.top5), '', '']);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const lines = [fmt(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)];
  const rt = m.roundTrip;
  if (rt) {
    lines.push(
      '',
      `stock tf.loadLayersModel of ${path.join(s.out, 'model')}: weights ${rt.tfjsWeightsBitExact ? 'bit-exact' : 'NOT bit-exact'}, max |Δ logits| = ${rt.tfjsMaxAbsDiffLogits.toExponential(2)}`,
    );
  }
  if (m.tensorSummary) {
    const t = m.tensorSummary;
    lines.push(`${s.method} relative error over ${m.tensors?.length ?? 0} tensors: min ${t.min.toFixed(2)} %, max ${t.max.toFixed(2)} %, mean ${t.mean.toFixed(2)} %`);
  }
  const sparse = m.layers.filter((l) => l.sparsity > 0.01);
  if (sparse.length) lines.push(`sparsity (share of zero weights): ${sparse.map((l) => `${l.name} ${(100 * l.sparsity).toFixed(1)} %`).join(', ')}`);
  lines.push(`metrics: ${path.join(s.out, 'metrics.json')}, ${path.join(s.out, 'metrics.csv')} (total ${m.times.total.toFixed(1)} s)`);
  return lines.join('\n');
}
