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

static std::vector<double> linspace_pm1(int n) {
  // numpy.linspace(-1, 1, n): start + i * step, last element set to stop exactly.
  std::vector<double> v(n);
  if (n == 1) { v[0] = -1.0; return v; }
  double step = 2.0 / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = i * step + -1.0;
  v[n - 1] = 1.0;
  return v;
}

std::vector<double> unscaled_levels(AlphabetKind kind, double bits) {
  switch (kind) {
    case AlphabetKind::kLybrand:
      return linspace_pm1(level_count(bits));
    case AlphabetKind::kZzsLinspace: {
      std::vector<double> v = linspace_pm1(level_count(bits));
      if (std::find(v.begin(), v.end(), 0.0) == v.end()) v.push_back(0.0);
      std::sort(v.begin(), v.end());
      return v;
    }
    case AlphabetKind::kZzsUniform: {
      int k = uniform_half_width(bits);
      std::vector<double> v(2 * k + 1);
      for (int i = -k; i <= k; ++i) v[i + k] = static_cast<double>(i) / k;
      return v;
    }
  }
  throw Error(code::kRange, "unknown alphabet kind");
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

std::vector<float> make_alphabet(const AlphabetSpec& spec, const float* w, index_t n0, index_t n1) {
  validate_alphabet_spec(spec);
  double r = spec.scalar * layer_radius(spec.kind, w, n0, n1, spec.percentile);
  std::vector<double> levels = unscaled_levels(spec.kind, spec.bits);
  std::vector<float> out(levels.size());
  for (std::size_t i = 0; i < levels.size(); ++i) out[i] = static_cast<float>(r * levels[i]);
  return out;
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
