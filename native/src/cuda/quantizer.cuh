// Device versions of qnn/quantizer.h (Quantizer::quantize, nearest_index, lower_bound_index) and
// of Rng32 (qnn/common.h). qnn/quantizer.h is host C++ (its constructor throws), so these repeat
// its rules operation for operation: the same binary search, distances and ratios in double with
// explicit round-to-nearest intrinsics (no FMA contraction, as in the CPU build, which compiles the
// quantizer without FMA), the same tie rules and the same random-number consumption. Keep the two
// in step: the float64 parity test compares codes exactly.
#pragma once

#include <cstdint>

#include "device.cuh"

namespace qnn {
namespace cuda {
namespace dev {

// mulberry32 step (Rng32::next).
__device__ __forceinline__ std::uint32_t rng_next(std::uint32_t& state) {
  state += 0x6D2B79F5u;
  std::uint32_t t = state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return t ^ (t >> 14);
}

// Rng32::uniform: 32 random bits times 2^-32 (exact).
__device__ __forceinline__ double rng_uniform(std::uint32_t& state) {
  return static_cast<double>(rng_next(state)) * (1.0 / 4294967296.0);
}

// First index whose level is not less than z (n if none); NaN maps to 0.
__device__ __forceinline__ int lower_bound_index(const float* a, int n, double z) {
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (static_cast<double>(a[mid]) < z) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Nearest level; ties to the lower neighbour unless tie_upper.
__device__ __forceinline__ int nearest_index(const float* a, int n, double z, bool tie_upper) {
  const int i = lower_bound_index(a, n, z);
  if (i == 0) return 0;
  if (i == n) return n - 1;
  const double dlo = __dsub_rn(z, static_cast<double>(a[i - 1]));
  const double dhi = __dsub_rn(static_cast<double>(a[i]), z);
  if (tie_upper) return dlo < dhi ? i - 1 : i;
  return dlo <= dhi ? i - 1 : i;
}

// Index of Q(z) (Quantizer::quantize); `state` is the neuron's stream (stochastic rounding only).
__device__ __forceinline__ int quantize(const Quant& q, double z, std::uint32_t& state) {
  switch (q.kind) {
    case 0:  // kNearest
      return nearest_index(q.levels, q.n, z, q.tie_upper);
    case 2: {  // kL1
      const double mag = __dsub_rn(fabs(z), q.lambda);
      const double zs = mag > 0 ? copysign(mag, z) : 0.0;
      return nearest_index(q.levels, q.n, zs, q.tie_upper);
    }
    case 1: {  // kStochastic
      const int i = lower_bound_index(q.levels, q.n, z);
      if (i == 0) {
        rng_next(state);
        return 0;
      }
      if (i == q.n) {
        rng_next(state);
        return q.n - 1;
      }
      const double lo = q.levels[i - 1], hi = q.levels[i];
      const double p_up = __ddiv_rn(__dsub_rn(z, lo), __dsub_rn(hi, lo));
      return rng_uniform(state) < p_up ? i : i - 1;
    }
    case 3: {  // kL0
      const int center = q.k_max + 1;
      const double az = fabs(z);
      if (!(az > q.lambda)) return center;
      double k = nearbyint(__ddiv_rn(__dsub_rn(az, q.lambda), q.delta));
      if (k > q.k_max) k = q.k_max;
      const int ki = static_cast<int>(k);
      return z > 0 ? center + 1 + ki : center - 1 - ki;
    }
  }
  return 0;
}

}  // namespace dev
}  // namespace cuda
}  // namespace qnn
