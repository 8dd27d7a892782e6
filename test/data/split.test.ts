import { QnnError } from '../../src/errors';
import { stratifiedSample, stratifiedSplit, subset, type Dataset } from '../../src/data';
import { mixSeed, permutation } from '../../src/util/rng';

/** Unbalanced labels: class c has sizes[c] samples, interleaved c = i % K until a class is used up. */
function labels(sizes: number[]): Int32Array {
  const left = sizes.slice();
  const out: number[] = [];
  while (left.some((n) => n > 0)) left.forEach((n, c) => n > 0 && (out.push(c), left[c]--));
  return Int32Array.from(out);
}

const count = (y: Int32Array, idx: Int32Array, c: number) => Array.from(idx).filter((i) => y[i] === c).length;

describe('stratifiedSplit', () => {
  const sizes = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  const y = labels(sizes);

  test('per-class test size is round(f * n_c), no overlap, full cover, ascending', () => {
    const { train, test } = stratifiedSplit(y, 10, 0.2, 0);
    sizes.forEach((n, c) => {
      expect(count(y, test, c)).toBe(Math.round(0.2 * n));
      expect(count(y, train, c)).toBe(n - Math.round(0.2 * n));
    });
    const all = new Set([...train, ...test]);
    expect(all.size).toBe(y.length);
    expect(train.length + test.length).toBe(y.length);
    for (const idx of [train, test]) for (let i = 1; i < idx.length; i++) expect(idx[i]).toBeGreaterThan(idx[i - 1]);
  });

  test('test members of class c are the first round(f n_c) of permutation(n_c, mixSeed(seed, c))', () => {
    const seed = 17;
    const { test } = stratifiedSplit(y, 10, 0.1, seed);
    const testSet = new Set(test);
    for (let c = 0; c < 10; c++) {
      const members = Array.from(y.keys()).filter((i) => y[i] === c);
      const perm = permutation(members.length, mixSeed(seed, c));
      const k = Math.round(0.1 * members.length);
      const expected = new Set(Array.from(perm.subarray(0, k), (j) => members[j]));
      expect(members.filter((i) => testSet.has(i))).toEqual([...expected].sort((a, b) => a - b));
    }
  });

  test('deterministic for a seed, different for another seed', () => {
    const a = stratifiedSplit(y, 10, 0.2, 5);
    const b = stratifiedSplit(y, 10, 0.2, 5);
    const c = stratifiedSplit(y, 10, 0.2, 6);
    expect(Array.from(a.test)).toEqual(Array.from(b.test));
    expect(Array.from(a.test)).not.toEqual(Array.from(c.test));
  });

  test('bad labels and fractions are QnnErrors', () => {
    expect(() => stratifiedSplit(Int32Array.from([0, 3]), 3, 0.2, 0)).toThrow(/label 3 of sample 1 is outside \[0, 3\)/);
    expect(() => stratifiedSplit(Int32Array.from([0, -1]), 3, 0.2, 0)).toThrow(QnnError);
    expect(() => stratifiedSplit(y, 10, 1.5, 0)).toThrow(/testFraction must be in \[0, 1\]/);
    expect(() => stratifiedSplit(y, 0, 0.2, 0)).toThrow(/numClasses/);
  });
});

describe('stratifiedSample', () => {
  const y = labels([50, 30, 20]);

  test('exactly n samples with largest-remainder class quotas', () => {
    // 100 samples, n = 7: quotas 3.5, 2.1, 1.4 -> floors 3, 2, 1 (sum 6), the extra goes to class 0 (.5).
    const s = stratifiedSample(y, 3, 7, 1);
    expect(s.length).toBe(7);
    expect([0, 1, 2].map((c) => count(y, s, c))).toEqual([4, 2, 1]);
    expect(new Set(s).size).toBe(7);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
  });

  test('proportional for round numbers, all when n >= count, deterministic', () => {
    expect([0, 1, 2].map((c) => count(y, stratifiedSample(y, 3, 10, 0), c))).toEqual([5, 3, 2]);
    expect(Array.from(stratifiedSample(y, 3, 500, 0))).toEqual(Array.from(y.keys()));
    expect(Array.from(stratifiedSample(y, 3, 10, 9))).toEqual(Array.from(stratifiedSample(y, 3, 10, 9)));
    expect(() => stratifiedSample(y, 3, -1, 0)).toThrow(QnnError);
  });
});

describe('subset', () => {
  test('copies the chosen rows in the given order and keeps metadata', () => {
    const ds: Dataset = {
      x: Float32Array.from({ length: 4 * 6 }, (_, i) => i),
      y: Int32Array.from([0, 1, 2, 1]),
      count: 4,
      shape: [2, 3],
      numClasses: 3,
      classNames: ['a', 'b', 'c'],
    };
    const s = subset(ds, [3, 0]);
    expect(s.count).toBe(2);
    expect(Array.from(s.x)).toEqual([18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5]);
    expect(Array.from(s.y)).toEqual([1, 0]);
    expect(s.shape).toEqual([2, 3]);
    expect(s.classNames).toEqual(['a', 'b', 'c']);
    s.x[0] = -1;
    expect(ds.x[18]).toBe(18);
    expect(() => subset(ds, [4])).toThrow(/index 4 \(position 0\) is outside \[0, 4\)/);
  });
});
