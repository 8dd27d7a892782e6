// Scalar quantizers Q: R -> index into an ascending alphabet. The TS reference
// (src/reference/quantizer.ts) implements the same rules operation for operation.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "qnn/common.h"

namespace qnn {

enum class QuantizerKind : int {
  kNearest = 0,     // argmin |a_i - z|
  kStochastic = 1,  // SGPFQ: between the two neighbours, up with probability (z - lo) / (hi - lo)
  kL1 = 2,          // soft-threshold by lambda, then nearest
  kL0 = 3,          // ZZS L0 rule on the alphabet {0, +-(lambda + k delta)}, see make_l0_alphabet
};

struct QuantizerSpec {
  QuantizerKind kind = QuantizerKind::kNearest;
  bool tie_upper = false;  // ties go to the upper neighbour (ZZS uniform grid); default: lower
  double lambda = 0.0;     // L1 / L0 threshold
  double delta = 0.0;      // L0 grid step
  int k_max = 0;           // L0: K
  std::uint32_t seed = 0;  // stochastic rounding seed
};

// Index of the first element not less than z (n if none). NaN maps to 0.
inline int lower_bound_index(const float* a, int n, double z) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    if (static_cast<double>(a[mid]) < z) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Nearest element of the ascending alphabet a[0..n). Ties go to the lower element (the first one
// in array order, as numpy's argmin does) unless tie_upper.
inline int nearest_index(const float* a, int n, double z, bool tie_upper) {
  int i = lower_bound_index(a, n, z);
  if (i == 0) return 0;
  if (i == n) return n - 1;
  double dlo = z - static_cast<double>(a[i - 1]);
  double dhi = static_cast<double>(a[i]) - z;
  if (tie_upper) return dlo < dhi ? i - 1 : i;
  return dlo <= dhi ? i - 1 : i;
}

class Quantizer {
 public:
  Quantizer(const float* levels, int n, const QuantizerSpec& spec) : a_(levels), n_(n), spec_(spec) {
    require(n >= 1, code::kEmpty, "alphabet must have at least one level");
    if (spec.kind == QuantizerKind::kL0) {
      require(n == 2 * spec.k_max + 3, code::kShape,
              "L0 quantizer needs the alphabet from make_l0_alphabet (2K+3 levels)");
    }
  }

  const float* levels() const { return a_; }
  int size() const { return n_; }
  const QuantizerSpec& spec() const { return spec_; }
  bool needs_rng() const { return spec_.kind == QuantizerKind::kStochastic; }

  // Index of Q(z). `rng` is the per-neuron stream (only read for stochastic rounding).
  int quantize(double z, Rng32* rng) const {
    switch (spec_.kind) {
      case QuantizerKind::kNearest:
        return nearest_index(a_, n_, z, spec_.tie_upper);
      case QuantizerKind::kL1: {
        double mag = std::fabs(z) - spec_.lambda;
        double zs = mag > 0 ? std::copysign(mag, z) : 0.0;
        return nearest_index(a_, n_, zs, spec_.tie_upper);
      }
      case QuantizerKind::kStochastic: {
        int i = lower_bound_index(a_, n_, z);
        if (i == 0) { rng->next(); return 0; }
        if (i == n_) { rng->next(); return n_ - 1; }
        double lo = a_[i - 1], hi = a_[i];
        double p_up = (z - lo) / (hi - lo);
        return rng->uniform() < p_up ? i : i - 1;
      }
      case QuantizerKind::kL0: {
        // |z| <= lambda -> 0; else sign(z) (lambda + delta min(round_half_even((|z| - lambda) / delta), K)).
        int center = spec_.k_max + 1;
        double az = std::fabs(z);
        if (!(az > spec_.lambda)) return center;
        double k = std::nearbyint((az - spec_.lambda) / spec_.delta);
        if (k > spec_.k_max) k = spec_.k_max;
        int ki = static_cast<int>(k);
        return z > 0 ? center + 1 + ki : center - 1 - ki;
      }
    }
    return 0;
  }

 private:
  const float* a_;
  int n_;
  QuantizerSpec spec_;
};

}  // namespace qnn
