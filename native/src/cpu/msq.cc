#include <string>

#include "qnn/gpfq.h"

namespace qnn {

// MSQ: q = Q(w) element-wise. Values are visited neuron by neuron (column j of the n0 x n1 Keras
// matrix, rows in order) so that stochastic rounding uses the same per-neuron streams as GPFQ.
void msq(const float* w, index_t n, const float* levels, int n_levels, const QuantizerSpec& spec, index_t n1,
         std::int32_t* codes, float* q) {
  require(n1 >= 1 && n % n1 == 0, code::kShape,
          "msq: " + std::to_string(n) + " weights do not split into columns of " + std::to_string(n1));
  const Quantizer quant(levels, n_levels, spec);
  const index_t n0 = n / n1;
  for (index_t j = 0; j < n1; ++j) {
    Rng32 rng(mix_seed(spec.seed, static_cast<std::uint32_t>(j)));
    for (index_t t = 0; t < n0; ++t) {
      const index_t i = t * n1 + j;
      const int idx = quant.quantize(static_cast<double>(w[i]), &rng);
      codes[i] = idx;
      q[i] = levels[idx];
    }
  }
}

}  // namespace qnn
