#include "qnn/alphabet.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace qnn {

void validate_alphabet_spec(const AlphabetSpec& spec) {
  require(std::isfinite(spec.bits) && spec.bits >= 1.0 && spec.bits <= 16.0, code::kRange,
          "bits must be a number in [1, 16] (got " + std::to_string(spec.bits) + ")");
  require(std::isfinite(spec.scalar) && spec.scalar > 0, code::kRange,
          "scalar must be a finite number > 0 (got " + std::to_string(spec.scalar) + ")");
  require(std::isfinite(spec.percentile) && spec.percentile > 0 && spec.percentile <= 1, code::kRange,
          "percentile must be in (0, 1] (got " + std::to_string(spec.percentile) + ")");
}

int level_count(double bits) { return static_cast<int>(std::nearbyint(std::pow(2.0, bits))); }

int uniform_half_width(double bits) {
  int k = static_cast<int>(std::nearbyint(std::pow(2.0, bits - 1)));
  return k < 1 ? 1 : k;
}

// numpy.quantile(v, p) with linear interpolation on a sorted copy.
static double quantile_sorted(const std::vector<double>& v, double p) {
  double pos = p * (static_cast<double>(v.size()) - 1);
  std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  if (lo + 1 >= v.size()) return v.back();
  double t = pos - lo;
  return v[lo] + (v[lo + 1] - v[lo]) * t;
}

double layer_radius(AlphabetKind kind, const float* w, index_t n0, index_t n1, double percentile) {
  require(n0 > 0 && n1 > 0, code::kEmpty, "weights must not be empty");
  if (kind == AlphabetKind::kLybrand) {
    std::vector<double> a(static_cast<std::size_t>(n0 * n1));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(static_cast<double>(w[i]));
    std::size_t n = a.size(), mid = n / 2;
    std::nth_element(a.begin(), a.begin() + mid, a.end());
    double hi = a[mid];
    if (n % 2 == 1) return hi;
    double lo = *std::max_element(a.begin(), a.begin() + mid);
    return (lo + hi) / 2;
  }
  double sum = 0;
  std::vector<double> col(static_cast<std::size_t>(n0));
  for (index_t j = 0; j < n1; ++j) {
    for (index_t t = 0; t < n0; ++t) col[t] = std::fabs(static_cast<double>(w[t * n1 + j]));
    std::sort(col.begin(), col.end());
    sum += quantile_sorted(col, percentile);
  }
  return sum / static_cast<double>(n1);
}

AlphabetGrid make_alphabet_grid(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1) {
  validate_alphabet_spec(spec);
  AlphabetGrid g;
  g.radius = layer_radius(spec.kind, w, n0, n1, spec.percentile);
  const double r = spec.scalar * g.radius;
  std::int32_t zero;
  if (spec.kind == AlphabetKind::kZzsUniform) {
    const int k = uniform_half_width(spec.bits);
    g.step = r / k;
    zero = k;
    for (int i = 0; i <= 2 * k; ++i) g.codes.push_back(i);
  } else {
    const int n = level_count(spec.bits);
    g.step = r / (n - 1);
    zero = n - 1;
    for (int i = 0; i < n; ++i) {
      if (spec.kind == AlphabetKind::kZzsLinspace && n % 2 == 0 && i == n / 2) g.codes.push_back(zero);
      g.codes.push_back(2 * i);
    }
  }
  g.min = -(static_cast<double>(zero) * g.step);
  g.levels.resize(g.codes.size());
  for (std::size_t i = 0; i < g.codes.size(); ++i) {
    const double prod = static_cast<double>(g.codes[i]) * g.step;  // two roundings, as in JS
    g.levels[i] = static_cast<float>(prod + g.min);
  }
  return g;
}

std::vector<float> make_alphabet(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1) {
  return make_alphabet_grid(spec, w, n0, n1).levels;
}

std::vector<float> make_l0_alphabet(double delta, double lambda, int k_max) {
  require(std::isfinite(delta) && delta > 0, code::kRange, "L0 delta must be > 0");
  require(std::isfinite(lambda) && lambda >= 0, code::kRange, "L0 lambda must be >= 0");
  require(k_max >= 1, code::kRange, "L0 K must be >= 1");
  std::vector<float> out(static_cast<std::size_t>(2 * k_max + 3));
  int c = k_max + 1;
  out[c] = 0.0f;
  for (int k = 0; k <= k_max; ++k) {
    float v = static_cast<float>(lambda + delta * k);
    out[c + 1 + k] = v;
    out[c - 1 - k] = -v;
  }
  return out;
}

}  // namespace qnn
