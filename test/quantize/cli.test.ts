/**
 * `qnn-native quantize` from the command line: the happy path writes a complete output directory;
 * every kind of bad input gives a clear error, a non-zero exit code and no output (not even a
 * temporary directory); Ctrl-C stops the run the same way.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { main } from '../../src/cli/main';
import { saveModel } from '../../src/io/model_io';
import { getTf } from '../../src/tf/runtime';
import { mlp } from './models';

let dir: string;
let modelDir: string;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

function leftovers(outDir: string): string[] {
  const base = path.basename(outDir);
  return fs.readdirSync(path.dirname(outDir)).filter((f) => f.startsWith(`${base}.tmp-`));
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qnn-cli-'));
  modelDir = path.join(dir, 'mlp');
  const tf = await getTf();
  await saveModel(mlp(tf), modelDir);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const fast = ['--samples', '200', '--max-test', '200', '--quiet'];

describe('qnn-native quantize', () => {
  it('writes the exported models and the metrics, and the export reloads with stock TF.js', async () => {
    const out = path.join(dir, 'ok');
    const r = await cli(['quantize', '--model', modelDir, '--out', out, '--bits', '3', '--seed', '4', ...fast]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/analog \(float32\)/);
    expect(r.out).toMatch(/weights bit-exact/);
    expect(fs.readdirSync(out).sort()).toEqual(['metrics.csv', 'metrics.json', 'model', 'packed']);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(m.settings.seed).toBe(4);
    expect(m.settings.bits).toBe(3);
    expect(m.data.spec).toBe('mnist');
    expect(m.layers.map((l: { name: string }) => l.name)).toEqual(['fc1', 'fc2', 'out']);
    expect(m.roundTrip.tfjsWeightsBitExact).toBe(true);
    expect(m.roundTrip.tfjsMaxAbsDiffLogits).toBe(0);
    expect(m.roundTrip.packedMaxAbsDiffLogits).toBe(0);
    expect(m.sizes.tfjs.bytes).toBeLessThan(m.sizes.analog.bytes / 3);
    const csv = fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0].split(',').slice(0, 10)).toEqual(['data_set', 'analog_model', 'serialized_quantized_model', 'q_train_size', 'bits', 'alphabet_scalar', 'analog_test_acc', 'sd_test_acc', 'msq_test_acc', 'quantization_time']);
    expect(csv).toHaveLength(2);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model', 'model.json'), 'utf8')).weightsManifest[0].weights;
    const kernel = manifest.find((w: { name: string }) => w.name.endsWith('kernel'));
    expect(kernel.quantization.dtype).toBe('uint8');
    expect(leftovers(out)).toEqual([]);
  });

  it('--json prints one JSON object on stdout', async () => {
    const r = await cli(['quantize', '--model', modelDir, '--out', path.join(dir, 'json'), '--json', ...fast, '--format', 'tfjs']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.out);
    expect(m.accuracy.analog.count).toBe(200);
    expect(m.sizes.packed).toBeUndefined();
  });

  async function expectFailure(args: string[], code: string, pattern: RegExp, outName: string) {
    const out = path.join(dir, outName);
    const r = await cli(['quantize', '--out', out, ...fast, ...args]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`error \\[${code}\\]`));
    expect(r.err).toMatch(pattern);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers(out)).toEqual([]);
  }

  it('missing model', () => expectFailure(['--model', path.join(dir, 'nope')], 'QNN_E_IO', /model not found/, 'e1'));

  it('corrupt model.json', async () => {
    const bad = path.join(dir, 'corrupt');
    fs.cpSync(modelDir, bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'model.json'), '{"modelTopology": ');
    await expectFailure(['--model', bad], 'QNN_E_MODEL', /model\.json/, 'e2');
  });

  it('weights file shorter than the manifest needs', async () => {
    const bad = path.join(dir, 'short');
    fs.cpSync(modelDir, bad, { recursive: true });
    const w = path.join(bad, 'weights.bin');
    fs.truncateSync(w, fs.statSync(w).size - 8);
    await expectFailure(['--model', bad], 'QNN_E_MODEL', /bytes/, 'e3');
  });

  it('unsupported layers are listed (and --skip-unsupported keeps them float)', async () => {
    const tf = await getTf();
    const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.reshape({ targetShape: [28, 28] }), tf.layers.conv1d({ filters: 4, kernelSize: 3, name: 'temporal' }), tf.layers.flatten(), tf.layers.dense({ units: 10, activation: 'softmax', name: 'fc' })] });
    const p = path.join(dir, 'conv1d');
    await saveModel(m, p);
    await expectFailure(['--model', p], 'QNN_E_UNSUPPORTED', /temporal \(Conv1D\)/, 'e4');
    const r = await cli(['quantize', '--model', p, '--out', path.join(dir, 'conv1d-out'), '--skip-unsupported', ...fast]);
    expect(r.code).toBe(0);
  });

  it('data that does not fit the model input', async () => {
    const tf = await getTf();
    const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 3] }), tf.layers.dense({ units: 10 })] });
    const p = path.join(dir, 'rgb');
    await saveModel(m, p);
    await expectFailure(['--model', p, '--data', 'mnist'], 'QNN_E_DATA', /\[28, 28, 1\].*\[8, 8, 3\]/, 'e5');
  });

  it('missing dataset', () => expectFailure(['--model', modelDir, '--data', `fashion-mnist:${path.join(dir, 'no-data')}`], 'QNN_E_DATA', /fashion-mnist/, 'e6'));

  it('bad options', async () => {
    await expectFailure(['--model', modelDir, '--bits', '17'], 'QNN_E_RANGE', /--bits/, 'e7');
    await expectFailure(['--model', modelDir, '--format', 'onnx'], 'QNN_E_RANGE', /--format/, 'e8');
  });

  it('an existing --out is refused without --force and replaced with it', async () => {
    const out = path.join(dir, 'exists');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const r = await cli(['quantize', '--model', modelDir, '--out', out, ...fast]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error \[QNN_E_EXISTS\].*--force/);
    expect(fs.readFileSync(path.join(out, 'keep.txt'), 'utf8')).toBe('mine');
    const f = await cli(['quantize', '--model', modelDir, '--out', out, '--force', ...fast]);
    expect(f.code).toBe(0);
    expect(fs.existsSync(path.join(out, 'keep.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'metrics.json'))).toBe(true);
  });

  it('Ctrl-C mid-run exits 130 and leaves nothing behind', async () => {
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'qnn-native');
    expect(fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js'))).toBe(true); // npm test builds dist first
    const out = path.join(dir, 'interrupted');
    const child = spawn(process.execPath, [bin, 'quantize', '--model', modelDir, '--out', out, '--samples', '8000', '--batch-size', '32'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!sent && /capture/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(err).toMatch(/error \[QNN_E_ABORTED\]/);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers(out)).toEqual([]);
  });
});
