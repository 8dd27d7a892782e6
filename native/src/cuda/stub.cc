// Built when the CUDA backend is not compiled (QNN_CUDA=OFF, or AUTO without nvcc): every entry
// point reports that, so backends() can say why CUDA is unavailable and calls fail cleanly.
#include "qnn/cuda.h"

namespace qnn {
namespace cuda {
namespace {

[[noreturn]] void not_compiled() {
  throw Error(code::kCudaUnavailable,
              "the CUDA backend is not compiled into this build of qnn-native (no nvcc at build time or QNN_CUDA=OFF); "
              "install the CUDA toolkit and rebuild with `npm rebuild qnn-native`, or use backend 'cpu'");
}

}  // namespace

const Info& info() {
  static const Info i = [] {
    Info r;
    r.reason = "not compiled: this build has no CUDA backend (nvcc was not found at build time, or QNN_CUDA=OFF)";
    return r;
  }();
  return i;
}

std::unique_ptr<GramAccumulator> make_gram_accumulator(index_t, int, bool, bool, bool) { not_compiled(); }
std::size_t estimate_gram_bytes(index_t, int, bool, bool, bool, index_t) { return 0; }
std::size_t estimate_gpfq_direct_bytes(index_t, index_t, index_t, bool, bool, int) { return 0; }
std::size_t estimate_gpfq_gram_bytes(index_t, index_t, bool, bool, bool, int) { return 0; }

template <typename T>
void gpfq_direct(const float*, index_t, index_t, const float*, const float*, index_t, const float*, int,
                 const GpfqOptions&, GpfqOutput) {
  not_compiled();
}
template <typename T>
void gpfq_gram(const float*, index_t, index_t, const T*, const T*, const T*, bool, const float*, int,
               const GpfqOptions&, GpfqOutput) {
  not_compiled();
}
void im2col_rows(const ConvSpec&, const float*, index_t, index_t, float*) { not_compiled(); }

template void gpfq_direct<float>(const float*, index_t, index_t, const float*, const float*, index_t, const float*, int,
                                 const GpfqOptions&, GpfqOutput);
template void gpfq_direct<double>(const float*, index_t, index_t, const float*, const float*, index_t, const float*,
                                  int, const GpfqOptions&, GpfqOutput);
template void gpfq_gram<float>(const float*, index_t, index_t, const float*, const float*, const float*, bool,
                               const float*, int, const GpfqOptions&, GpfqOutput);
template void gpfq_gram<double>(const float*, index_t, index_t, const double*, const double*, const double*, bool,
                                const float*, int, const GpfqOptions&, GpfqOutput);

}  // namespace cuda
}  // namespace qnn
