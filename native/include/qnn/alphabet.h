// Alphabets (ALGORITHMS.md sections 3.1 and 4.1): unscaled level sets and per-layer radius rules.
#pragma once

#include <cstdint>
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
// Radius before the scalar: median |W| (Lybrand) or mean over neurons of the p-quantile of
// |W[:, j]| (ZZS). W is n0 x n1 row-major (Keras layout; column j = neuron j).
double layer_radius(AlphabetKind kind, const float* w, index_t n0, index_t n1, double percentile);
// A layer alphabet on an integer grid: levels[i] = float(codes[i] * step + min) computed in double
// (multiply, then add; no FMA), min = -zero_code * step. This is exactly how TF.js decodes
// uint8/uint16 weights (FIELD.md 3.3), so exporting codes with (step, min) reproduces the levels
// bit for bit, and 0 is always exactly representable.
//   Lybrand:      L = round(2^b) levels, step = C R / (L - 1), codes 0, 2, .., 2(L-1), zero 2(L-1)/2
//   ZZS linspace: the same plus the zero code L - 1 when L is even
//   ZZS uniform:  step = C R / K, codes 0..2K, zero K
struct AlphabetGrid {
  std::vector<float> levels;       // ascending
  std::vector<std::int32_t> codes; // grid code of each level
  double step = 0, min = 0, radius = 0;
};
AlphabetGrid make_alphabet_grid(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1);
// The levels of make_alphabet_grid.
std::vector<float> make_alphabet(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1);
// Validates spec fields (bits in [1, 16], C finite > 0, p in (0, 1]); throws QNN_E_RANGE.
void validate_alphabet_spec(const AlphabetSpec& spec);
// Alphabet of the ZZS L0 quantizer: {-(lambda + K delta) .. -lambda, 0, lambda .. lambda + K delta}.
std::vector<float> make_l0_alphabet(double delta, double lambda, int k_max);

}  // namespace qnn
