// Alphabets (ALGORITHMS.md sections 3.1 and 4.1): unscaled level sets and per-layer radius rules.
#pragma once

#include <vector>

#include "qnn/common.h"

namespace qnn {

enum class AlphabetKind : int {
  kLybrand = 0,      // round(2^b) points of linspace(-1, 1); radius C * median |W| over the layer
  kZzsLinspace = 1,  // linspace(-1, 1, round(2^b)) plus 0; radius C * mean_j quantile_p |W[:, j]|
  kZzsUniform = 2,   // {k delta : |k| <= K}, K = 2^(b-1), delta = C R / K, R as above
};

struct AlphabetSpec {
  AlphabetKind kind = AlphabetKind::kLybrand;
  double bits = 2;          // in [1, 16]; fractional allowed (log2 3 = ternary)
  double scalar = 1;        // C > 0
  double percentile = 1.0;  // p in (0, 1], ZZS radius only
};

// Number of levels round(2^bits) (Lybrand / ZZS linspace) — half-way cases round to even.
int level_count(double bits);
// K of the ZZS uniform grid: max(1, round(2^(bits - 1))).
int uniform_half_width(double bits);
// Unscaled ascending levels in [-1, 1] (double, as numpy computes them).
std::vector<double> unscaled_levels(AlphabetKind kind, double bits);
// Radius before the scalar: median |W| (Lybrand) or mean over neurons of the p-quantile of
// |W[:, j]| (ZZS). W is n0 x n1 row-major (Keras layout; column j = neuron j).
double layer_radius(AlphabetKind kind, const float* w, index_t n0, index_t n1, double percentile);
// The scaled layer alphabet, ascending, as float32 (value = float(C * R * level)).
std::vector<float> make_alphabet(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1);
// Validates spec fields (bits in [1, 16], C finite > 0, p in (0, 1]); throws QNN_E_RANGE.
void validate_alphabet_spec(const AlphabetSpec& spec);
// Alphabet of the ZZS L0 quantizer: {-(lambda + K delta) .. -lambda, 0, lambda .. lambda + K delta}.
std::vector<float> make_l0_alphabet(double delta, double lambda, int k_max);

}  // namespace qnn
