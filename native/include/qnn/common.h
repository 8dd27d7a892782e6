// Shared definitions of the qnn core: error type with stable codes, index type, threads.
// Pure C++17; never includes Node headers.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace qnn {

using index_t = std::int64_t;

// Stable error codes shared with the TypeScript QnnError (src/errors.ts).
namespace code {
constexpr const char* kType = "QNN_E_TYPE";          // wrong argument type
constexpr const char* kShape = "QNN_E_SHAPE";        // lengths or shapes do not agree
constexpr const char* kValue = "QNN_E_VALUE";        // NaN / Inf or otherwise invalid values
constexpr const char* kRange = "QNN_E_RANGE";        // a scalar option outside its range
constexpr const char* kEmpty = "QNN_E_EMPTY";        // no data (m == 0, empty alphabet, ...)
constexpr const char* kDetached = "QNN_E_DETACHED";  // detached ArrayBuffer
constexpr const char* kCuda = "QNN_E_CUDA";          // CUDA runtime failure
constexpr const char* kCudaUnavailable = "QNN_E_CUDA_UNAVAILABLE";
constexpr const char* kMemory = "QNN_E_MEMORY";      // allocation failed / does not fit
constexpr const char* kInternal = "QNN_E_INTERNAL";
}  // namespace code

// Every failure of the core is a qnn::Error carrying one of the codes above. The binding turns it
// into a JS Error with `.code`; worker threads catch it before it can cross a thread boundary.
class Error : public std::runtime_error {
 public:
  Error(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;
};

inline void require(bool ok, const char* code, const std::string& message) {
  if (!ok) throw Error(code, message);
}

// Number of threads a call uses when the caller passes threads <= 0.
int default_threads();
// Clamp a requested thread count to [1, 256], mapping <= 0 to default_threads().
int resolve_threads(int requested);

// Deterministic 32-bit generator (mulberry32). The TS reference implements the same sequence,
// so seeded sampling is identical across backends.
struct Rng32 {
  std::uint32_t state;
  explicit Rng32(std::uint32_t seed) : state(seed) {}
  std::uint32_t next() {
    state += 0x6D2B79F5u;
    std::uint32_t t = state;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
  }
  // Uniform double in [0, 1) with 32 random bits.
  double uniform() { return next() * (1.0 / 4294967296.0); }
  // Uniform integer in [0, n) (n < 2^32): floor(u32 * n / 2^32), exact in doubles too.
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(next()) * n) >> 32);
  }
};

// Mixes a seed with a stream index into a new seed (used for per-image / per-neuron streams).
inline std::uint32_t mix_seed(std::uint32_t seed, std::uint32_t stream) {
  std::uint32_t h = seed ^ 0x9E3779B9u;
  h = (h ^ stream) * 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

}  // namespace qnn
