// CUDA backend interface. Compiled from native/src/cuda/cuda_backend.cu when nvcc is found, else
// from native/src/cuda/stub.cc, whose functions report "not compiled". Nothing here touches the
// CUDA runtime until a function is called (lazy init), so loading the addon never needs a driver.
// Every function takes host pointers and has the semantics of its CPU counterpart; failures are
// qnn::Error (QNN_E_CUDA_UNAVAILABLE, QNN_E_CUDA, QNN_E_MEMORY), never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "qnn/common.h"
#include "qnn/gpfq.h"
#include "qnn/im2col.h"

namespace qnn {
namespace cuda {

struct Info {
  bool compiled = false;     // the CUDA backend was built into this addon
  bool available = false;    // compiled and a usable device was found
  int device_count = 0;
  int device = -1;           // device used (0 unless QNN_CUDA_DEVICE says otherwise)
  std::string name;          // device name
  std::size_t total_bytes = 0, free_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int runtime_version = 0, driver_version = 0;
  std::string reason;        // why not available ("" when available)
};

// Queries once and caches; never throws.
const Info& info();

// Device-resident Gram accumulator: G, H, K stay on the GPU between batches; patches of conv
// batches are built on the device and never travel to the host.
class GramAccumulator {
 public:
  virtual ~GramAccumulator() = default;
  // Dense rows (rows x d, row stride d); xq == nullptr for the same-inputs mode.
  virtual void add(const float* x, const float* xq, index_t rows) = 0;
  // NHWC conv batch; spec.groups must match the accumulator's groups.
  virtual void add_conv(const ConvSpec& spec, const float* x, const float* xq) = 0;
  // Copies the accumulated matrices (groups x d x d each, element type per f64) into host buffers.
  // G / K may be null (same mode / not tracked).
  virtual void download(void* G, void* H, void* K) = 0;
  virtual std::size_t device_bytes() const = 0;
};

// d = columns per group. Throws QNN_E_MEMORY with the estimate when it does not fit.
std::unique_ptr<GramAccumulator> make_gram_accumulator(index_t d, int groups, bool f64, bool same, bool track_k);

// Bytes of device memory the calls below would allocate (for the caller's report / checks).
std::size_t estimate_gram_bytes(index_t d, int groups, bool f64, bool same, bool track_k, index_t chunk_rows);
std::size_t estimate_gpfq_direct_bytes(index_t n0, index_t n1, index_t m, bool f64, bool distinct, int block);
std::size_t estimate_gpfq_gram_bytes(index_t n0, index_t n1, bool f64, bool same, bool track_k, int block);

template <typename T>
void gpfq_direct(const float* w, index_t n0, index_t n1, const float* x, const float* xq, index_t m,
                 const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out);

template <typename T>
void gpfq_gram(const float* w, index_t n0, index_t n1, const T* G, const T* H, const T* K, bool same,
               const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out);

// Patch rows [row0, row0 + nrows) of an NHWC batch, built on the device, copied back.
void im2col_rows(const ConvSpec& spec, const float* x, index_t row0, index_t nrows, float* dst);

}  // namespace cuda
}  // namespace qnn
