// Helpers shared by the core's translation units (not part of the public qnn/ API).
#pragma once

#include <new>
#include <string>
#include <vector>

#include "qnn/common.h"
#include "qnn/gpfq.h"

namespace qnn {
namespace detail {

// A zero-filled vector; allocation failure becomes QNN_E_MEMORY naming `what` and its size.
template <typename T>
std::vector<T> alloc(std::size_t n, const char* what) {
  try {
    return std::vector<T>(n, T(0));
  } catch (const std::bad_alloc&) {
    throw Error(code::kMemory, std::string("out of memory allocating ") + what + " (" +
                                   std::to_string(n * sizeof(T) / (1024.0 * 1024.0)) + " MiB)");
  }
}

// err_j = sqrt(err2_j), rel_j = err_j / sqrt(ref2_j) (0 when both are 0, inf when only ref is 0).
void finish_rel(index_t n1, const std::vector<double>& err2, const std::vector<double>& ref2, GpfqOutput out);

// Per-neuron ||X w - Xq q||^2 = w'Kw - 2 q'Gw + q'Hq (same inputs: (w - q)' H (w - q)) and the
// reference ||X w||^2 = w'Kw, from the Gram matrices, in double. H must already be symmetric;
// K's lower triangle is mirrored in place. Without K (and not same) the outputs are NaN.
template <typename T>
void gram_output_errors(const float* w, index_t n0, index_t n1, const T* G, const T* H, T* K, bool same,
                        const float* q, int threads, GpfqOutput out);

}  // namespace detail
}  // namespace qnn
