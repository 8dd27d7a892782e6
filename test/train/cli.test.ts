/** `qnn-native train` and `qnn-native eval` end to end through the CLI shell, on real MNIST digits. */
import * as fs from 'fs';
import * as path from 'path';

import { main } from '../../src/cli/main';
import type { TrainRecord } from '../../src/train/record';
import { tmpDir } from './helpers';

let tmp: ReturnType<typeof tmpDir>;
beforeAll(() => {
  tmp = tmpDir();
});
afterAll(() => tmp.cleanup());

/** Runs the CLI with captured stdout / stderr. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('train → eval round trip', () => {
  let dir: string;
  let record: TrainRecord;

  beforeAll(async () => {
    dir = path.join(tmp.dir, 'smoke');
    const r = await cli('train', 'smoke', '--max-train', '200', '--epochs', '2', '--seed', '3', '--out', dir, '--json', '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout);
    record = JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8'));
    expect(printed).toEqual({ out: dir, ...record });
  });

  test('train writes the model and a complete train.json', () => {
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'train.json', 'weights.bin']);
    expect(record.recipe).toBe('smoke');
    expect(record.settings).toMatchObject({ data: 'mnist', preprocess: 'unit', epochs: 2, batchSize: 32, optimizer: 'adam', learningRate: 0.01, seed: 3, dataSeed: 0, maxTrain: 200 });
    expect(record.data.spec).toBe('mnist');
    expect(record.data.settings).toMatchObject({ trainCount: 200, testCount: 2000, preprocess: 'unit' });
    expect(record.trainCount).toBe(200);
    expect(record.history.map((e) => e.epoch)).toEqual([1, 2]);
    expect(record.test.count).toBe(2000);
    expect(record.test.top1).toBeGreaterThan(0.3);
    expect(record.deviations).toEqual([]);
    expect(record.tfjs).toMatchObject({ backend: 'wasm' });
    expect(record.timings.trainSeconds).toBeGreaterThan(0);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).userDefinedMetadata;
    expect(meta.qnnTrain).toEqual({ recipe: 'smoke', data: 'mnist', preprocess: 'unit', dataSeed: 0, testTop1: record.test.top1 });
  });

  test('eval takes data and preprocessing from train.json and reproduces the test accuracy', async () => {
    const r = await cli('eval', '--model', dir, '--json', '--quiet');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ data: 'mnist', preprocess: 'unit', dataSeed: 0, count: 2000, top1: record.test.top1, top5: record.test.top5 });
    const text = await cli('eval', '--model', path.join(dir, 'model.json'), '--max-test', '500', '--quiet');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/on mnist \(500 test images, preprocess unit\): top-1 \d+\.\d\d%, top-5 \d+\.\d\d%/);
  });

  test('an existing output needs --force', async () => {
    const r = await cli('train', 'smoke', '--max-train', '100', '--epochs', '1', '--out', dir, '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[QNN_E_EXISTS\]: .*smoke exists.*--force/);
    const forced = await cli('train', 'smoke', '--max-train', '100', '--epochs', '1', '--out', dir, '--force', '--quiet');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^saved .*smoke \(smoke, 6,810 parameters\) and train\.json\ntest top-1/);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'train.json'), 'utf8')).trainCount).toBe(100);
  });
});

describe('errors', () => {
  test('bad options name the option', async () => {
    const out = path.join(tmp.dir, 'never');
    for (const [flag, value, msg] of [
      ['--lr', '-1', /--lr must be a positive number/],
      ['--epochs', '1.5', /--epochs must be a positive integer/],
      ['--validation-fraction', '1', /--validation-fraction must be a number in \[0, 1\)/],
    ] as const) {
      const r = await cli('train', 'smoke', flag, value, '--out', out, '--quiet');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`error \\[QNN_E_RANGE\\]: ${msg.source}`));
    }
    expect(fs.existsSync(out)).toBe(false);
  });

  test('eval without --data and without train.json asks for --data', async () => {
    const bare = path.join(tmp.dir, 'bare');
    fs.mkdirSync(bare);
    for (const f of ['model.json', 'weights.bin']) fs.copyFileSync(path.join(tmp.dir, 'smoke', f), path.join(bare, f));
    const r = await cli('eval', '--model', bare, '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[QNN_E_DATA\]: no dataset given for .*bare and no train\.json beside it.*--data/);
  });
});
