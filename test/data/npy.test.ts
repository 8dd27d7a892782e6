import * as fs from 'fs';
import * as path from 'path';
import { QnnError } from '../../src/errors';
import { loadDataset, readNpy } from '../../src/data';
import { makeTmp, npyBytes, removeTmp, writeNpy } from './fixtures';

let tmp: string;
beforeEach(() => {
  tmp = makeTmp('npy');
});
afterEach(() => removeTmp(tmp));
const f = (name: string) => path.join(tmp, name);

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QnnError);
  expect((e as QnnError).code).toBe('QNN_E_DATA');
  expect((e as QnnError).message).toMatch(re);
}

describe('readNpy', () => {
  test('v1 <f4, |u1, <i8 and v2 <f8 / <i4 round trip', () => {
    const f4 = Float32Array.from([1.5, -2.25, 3e-8, 1e30, 0, -0.5]);
    writeNpy(f('f4.npy'), '<f4', [2, 3], f4);
    const r4 = readNpy(f('f4.npy'));
    expect(r4.shape).toEqual([2, 3]);
    expect(r4.dtype).toBe('<f4');
    expect(r4.data).toBeInstanceOf(Float32Array);
    expect(Array.from(r4.data)).toEqual(Array.from(f4));

    writeNpy(f('u1.npy'), '|u1', [4], Uint8Array.of(0, 7, 128, 255));
    const ru = readNpy(f('u1.npy'));
    expect(ru.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(ru.data)).toEqual([0, 7, 128, 255]);

    writeNpy(f('i8.npy'), '<i8', [3], BigInt64Array.of(-5n, 0n, 2n ** 40n));
    const ri = readNpy(f('i8.npy'));
    expect(ri.data).toBeInstanceOf(Float64Array);
    expect(Array.from(ri.data)).toEqual([-5, 0, 2 ** 40]);

    writeNpy(f('f8.npy'), '<f8', [1, 2], Float64Array.of(Math.PI, -1), { version: 2 });
    expect(Array.from(readNpy(f('f8.npy')).data)).toEqual([Math.PI, -1]);
    writeNpy(f('i4.npy'), '<i4', [], Int32Array.of(-7), { version: 2 });
    const scalar = readNpy(f('i4.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([-7]);
  });

  test('unaligned data start is copied correctly', () => {
    // A header that is not padded to a multiple of 4: data begins at an odd offset.
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } \n";
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head.writeUInt16LE(dict.length, 8);
    expect((10 + dict.length) % 4).not.toBe(0);
    fs.writeFileSync(f('odd.npy'), Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(Float32Array.of(0.25, -8).buffer)]));
    expect(Array.from(readNpy(f('odd.npy')).data)).toEqual([0.25, -8]);
  });

  test('fortran order, unsupported and big-endian dtypes, truncation, bad magic, int64 overflow', () => {
    writeNpy(f('a.npy'), '<f4', [2, 2], new Float32Array(4), { fortran: true });
    expect(() => readNpy(f('a.npy'))).toThrow(/Fortran \(column-major\) order.*np\.ascontiguousarray/);
    fs.writeFileSync(f('a.npy'), npyBytes('<f2', [2], new Uint8Array(4)));
    expect(() => readNpy(f('a.npy'))).toThrow(/dtype '<f2' is not supported \(use <f4, <f8, \|u1, <i4 or <i8\)/);
    fs.writeFileSync(f('a.npy'), npyBytes('>f4', [1], new Uint8Array(4)));
    expect(() => readNpy(f('a.npy'))).toThrow(/big-endian/);
    fs.writeFileSync(f('a.npy'), npyBytes('<f4', [3], new Uint8Array(8)));
    expect(() => readNpy(f('a.npy'))).toThrow(/needs 12 data bytes, the file has 8 \(truncated\)/);
    fs.writeFileSync(f('a.npy'), Buffer.from('PK\x03\x04 not numpy at all'));
    expect(() => readNpy(f('a.npy'))).toThrow(/not a \.npy file/);
    writeNpy(f('a.npy'), '<i8', [1], BigInt64Array.of(2n ** 60n));
    expect(() => readNpy(f('a.npy'))).toThrow(/beyond ±2\^53/);
    expect(() => readNpy(f('none.npy'))).toThrow(QnnError);
  });
});

describe('npy:<x>,<y>', () => {
  /** 50 samples of shape [2, 2]: sample i holds i*4 .. i*4+3; class = i % 3 (17, 17, 16 per class). */
  function writePair(labels: 'int' | 'onehot' | 'float'): void {
    const n = 50;
    writeNpy(f('x.npy'), '<f4', [n, 2, 2], Float32Array.from({ length: n * 4 }, (_, i) => i));
    const y = Array.from({ length: n }, (_, i) => i % 3);
    if (labels === 'int') writeNpy(f('y.npy'), '<i8', [n], BigInt64Array.from(y, BigInt));
    else if (labels === 'float') writeNpy(f('y.npy'), '<f8', [n], Float64Array.from(y));
    else writeNpy(f('y.npy'), '<f4', [n, 3], Float32Array.from({ length: n * 3 }, (_, k) => (y[Math.floor(k / 3)] === k % 3 ? 1 : 0)));
  }

  test.each(['int', 'onehot', 'float'] as const)('stratified split with %s labels, values intact', async (kind) => {
    writePair(kind);
    const d = await loadDataset(`npy:${f('x.npy')},${f('y.npy')}`, { quiet: true });
    expect(d.train.shape).toEqual([2, 2]);
    expect(d.train.numClasses).toBe(3);
    // round(0.2 * 17) = 3, round(0.2 * 16) = 3 -> 9 test, 41 train.
    expect(d.test.count).toBe(9);
    expect(d.train.count).toBe(41);
    const seen = new Set<number>();
    for (const ds of [d.train, d.test]) {
      for (let j = 0; j < ds.count; j++) {
        const i = ds.x[j * 4] / 4; // sample index recovered from its values
        expect(Array.from(ds.x.subarray(j * 4, j * 4 + 4))).toEqual([4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
        expect(ds.y[j]).toBe(i % 3);
        seen.add(i);
      }
    }
    expect(seen.size).toBe(50);
    expect(d.settings).toMatchObject({ kind: 'npy', split: 'stratified', testFraction: 0.2, seed: 0, preprocess: 'raw', xDtype: '<f4' });
  });

  test('u1 x with unit preprocess', async () => {
    writeNpy(f('x.npy'), '|u1', [4, 3], Uint8Array.from({ length: 12 }, (_, i) => i * 20));
    writeNpy(f('y.npy'), '<i4', [4], Int32Array.of(0, 0, 1, 1));
    const d = await loadDataset(`npy:${f('x.npy')},${f('y.npy')}`, { quiet: true, preprocess: 'unit', testFraction: 0.5 });
    expect(d.test.count).toBe(2);
    for (const ds of [d.train, d.test]) for (const v of ds.x) expect(Math.round(v * 255) % 20).toBe(0);
  });

  test('label and shape errors', async () => {
    const spec = `npy:${f('x.npy')},${f('y.npy')}`;
    writeNpy(f('x.npy'), '<f4', [3, 2], new Float32Array(6));
    writeNpy(f('y.npy'), '<i4', [2], Int32Array.of(0, 1));
    await rejects(loadDataset(spec, { quiet: true }), /has 3 samples but .*y\.npy has 2 labels/);
    writeNpy(f('y.npy'), '<f4', [3], Float32Array.of(0, 1.5, 1));
    await rejects(loadDataset(spec, { quiet: true }), /label 1\.5 at index 1 is not a class index/);
    writeNpy(f('y.npy'), '<f4', [3, 2], Float32Array.of(1, 0, 1, 1, 0, 1));
    await rejects(loadDataset(spec, { quiet: true }), /row 1 is not one-hot/);
    writeNpy(f('y.npy'), '<f4', [3, 2], Float32Array.of(1, 0, 0, 0, 0, 1));
    await rejects(loadDataset(spec, { quiet: true }), /row 1 is all zeros/);
    writeNpy(f('x.npy'), '<f4', [3], new Float32Array(3));
    await rejects(loadDataset(spec, { quiet: true }), /x\.npy: samples have shape \(3\)/);
    writeNpy(f('x.npy'), '<f4', [2, 2], new Float32Array(4), { fortran: true });
    await rejects(loadDataset(spec, { quiet: true }), /Fortran/);
    await rejects(loadDataset(`npy:${f('x.npy')}`, { quiet: true }), /must name two files.*npy:<x\.npy>,<y\.npy>/);
  });
});
