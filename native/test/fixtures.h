// Seeded layer problems shared by the core, GPTQ and CUDA tests.
#pragma once

#include <algorithm>
#include <random>
#include <vector>

#include "qnn/alphabet.h"

namespace qtest {

using qnn::index_t;

struct Problem {
  index_t m, n0, n1;
  std::vector<float> w, x, xq, levels;
};

// Correlated ReLU inputs (a common factor per sample), X~ = ReLU(X + noise) when distinct; dead
// columns are zero in X~ (and in X unless distinct). ZZS linspace alphabet of `bits`, scalar C.
inline Problem make_problem(index_t m, index_t n0, index_t n1, unsigned seed, bool distinct,
                            const std::vector<index_t>& dead, double bits = 4, double scalar = 1.2) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0, 1);
  Problem p{m, n0, n1, {}, {}, {}, {}};
  p.w.resize(n0 * n1);
  for (auto& v : p.w) v = 0.3f * nd(g);
  p.x.resize(m * n0);
  for (index_t i = 0; i < m; ++i) {
    float common = nd(g);
    for (index_t t = 0; t < n0; ++t) p.x[i * n0 + t] = std::max(0.0f, 0.7f * common + nd(g));
  }
  p.xq = p.x;
  if (distinct)
    for (auto& v : p.xq) v = std::max(0.0f, v + 0.1f * nd(g));
  for (index_t t : dead)
    for (index_t i = 0; i < m; ++i) {
      p.xq[i * n0 + t] = 0.0f;
      if (!distinct) p.x[i * n0 + t] = 0.0f;
    }
  qnn::AlphabetSpec spec;
  spec.kind = qnn::AlphabetKind::kZzsLinspace;
  spec.bits = bits;
  spec.scalar = scalar;
  p.levels = qnn::make_alphabet(spec, p.w.data(), n0, n1);
  return p;
}

}  // namespace qtest
