/**
 * Seeded generators shared by every backend. `Rng32` is mulberry32 and `mixSeed` a 32-bit hash;
 * both match native/include/qnn/common.h bit for bit, so seeded sampling (ZZS patch subsampling,
 * stochastic rounding) is identical in TypeScript and C++.
 */
export class Rng32 {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1) >>> 0;
    t = (t ^ (t + Math.imul(t ^ (t >>> 7), t | 61))) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [0, n), n < 2^21 keeps the product exact: floor(u32 * n / 2^32). */
  below(n: number): number {
    return Math.floor((this.next() * n) / 4294967296);
  }

  /** Standard normal (Box-Muller), for synthetic data and weight init. */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

/** Mixes a seed with a stream index (per image, per neuron) into a new seed. */
export function mixSeed(seed: number, stream: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul((h ^ stream) >>> 0, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

/** Fisher-Yates shuffle of [0, n) driven by a seed. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
