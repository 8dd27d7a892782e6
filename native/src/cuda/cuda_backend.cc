// CUDA backend of the GPFQ engine: implements qnn/cuda.h with the semantics of the CPU core
// (gram.cc, gpfq.cc, im2col.cc). Host side: device query, memory planning, streams, the call
// sequences; kernels live in gemm.cu and kernels.cu (device.cuh). Plain C++ (no device code),
// compiled by the host compiler against the CUDA toolkit headers.
//
// Conventions for every entry point:
// * Lazy: nothing touches the CUDA runtime before the first call (info() included); the device is
//   chosen once (QNN_CUDA_DEVICE, default 0) and made current on the calling thread per call.
// * One stream per call (one per accumulator), non-blocking; the call drains it before returning,
//   so host buffers are only read or written while the call runs.
// * All device memory of a call is one allocation (Arena) carved by a layout function that also
//   gives the estimate_* numbers; it is checked against the free device memory first (QNN_E_MEMORY
//   with the numbers) and freed on every path, after the stream has drained.
// * CUDA failures become qnn::Error(QNN_E_CUDA, "<api>: <cudaGetErrorName>: <text>"). Kernel
//   launchers are noexcept and return a status; the host code throws only between launches, and
//   the unwinding drains the stream before any buffer is freed.
#include "qnn/cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/internal.h"  // detail::finish_rel, shared with gpfq.cc
#include "device.cuh"
#include "qnn/im2col.h"
#include "qnn/quantizer.h"

namespace qnn {
namespace cuda {
namespace {

constexpr index_t kChunkRows = 4096;                     // dense / patch rows per Gram update
constexpr index_t kImageChunkElems = index_t{1} << 22;   // NHWC floats per upload (>= one image)
constexpr index_t kIm2colChunkElems = index_t{1} << 24;  // patch floats per device-to-host copy
constexpr index_t kErrChunkElems = index_t{1} << 22;     // X W rows per error chunk, times n1
constexpr int kEstimateLevels = 65537;                   // alphabet size the public estimates assume
constexpr std::size_t kAlign = 256;
constexpr index_t kSat = index_t{1} << 62;               // saturation bound of size arithmetic

// ---- errors and sizes -----------------------------------------------------------------------

std::string cuda_text(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

// Throws QNN_E_CUDA naming the API when e is an error (and clears the thread's last error).
void check(cudaError_t e, const char* api) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  throw Error(code::kCuda, std::string(api) + ": " + cuda_text(e));
}

std::string mib(std::size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

index_t prod(index_t a, index_t b) {
  if (a <= 0 || b <= 0) return 0;
  return a > kSat / b ? kSat : a * b;
}

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// ---- lazy device query --------------------------------------------------------------------------

struct State {
  Info info;
  int smem_optin = 48 * 1024;  // dynamic shared memory a block may use (after configure_kernels)
  int sm_count = 1;
};

std::string cuda_version(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

std::string device_label(const Info& r) {
  return "CUDA device " + std::to_string(r.device) + (r.name.empty() ? "" : " (" + r.name + ")");
}

// Runs once (first info() or first call); never throws.
State query() noexcept {
  State s;
  Info& r = s.info;
  r.compiled = true;
  try {
    cudaRuntimeGetVersion(&r.runtime_version);
    cudaDriverGetVersion(&r.driver_version);
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      if (e == cudaErrorInsufficientDriver) {
        r.reason = r.driver_version == 0
                       ? "no NVIDIA driver found (libcuda.so.1 could not be loaded; cudaErrorInsufficientDriver): "
                         "install the NVIDIA driver to use backend 'cuda'"
                       : "the NVIDIA driver supports CUDA " + cuda_version(r.driver_version) +
                             " but this build needs CUDA " + cuda_version(r.runtime_version) +
                             " (cudaErrorInsufficientDriver): update the driver";
      } else if (e == cudaErrorNoDevice) {
        r.reason = "no CUDA-capable device is visible (cudaErrorNoDevice; driver CUDA " +
                   cuda_version(r.driver_version) + "; check CUDA_VISIBLE_DEVICES)";
      } else {
        r.reason = "cudaGetDeviceCount: " + cuda_text(e);
      }
      return s;
    }
    r.device_count = n;
    if (n <= 0) {
      r.reason = "no CUDA-capable device is visible";
      return s;
    }
    int device = 0;
    const char* env = std::getenv("QNN_CUDA_DEVICE");
    if (env && *env) {
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(env, &end, 10);
      if (errno != 0 || end == env || *end != '\0' || v < 0 || v >= n) {
        r.reason = "QNN_CUDA_DEVICE='" + std::string(env) + "' is not a device index in [0, " + std::to_string(n - 1) + "]";
        return s;
      }
      device = static_cast<int>(v);
    }
    r.device = device;
    cudaDeviceProp prop;
    cudaError_t ce = cudaGetDeviceProperties(&prop, device);
    if (ce != cudaSuccess) {
      cudaGetLastError();
      r.reason = "cudaGetDeviceProperties(" + std::to_string(device) + "): " + cuda_text(ce);
      return s;
    }
    r.name = prop.name;
    r.cc_major = prop.major;
    r.cc_minor = prop.minor;
    r.total_bytes = prop.totalGlobalMem;
    s.sm_count = std::max(1, prop.multiProcessorCount);
    s.smem_optin = std::max(static_cast<int>(prop.sharedMemPerBlockOptin), 48 * 1024);
    if (prop.major * 10 + prop.minor < 75) {
      r.reason = device_label(r) + " has compute capability " + std::to_string(prop.major) + "." +
                 std::to_string(prop.minor) + "; this build supports 7.5 (Turing) and newer";
      return s;
    }
    ce = cudaSetDevice(device);
    std::size_t free_b = 0, total_b = 0;
    if (ce == cudaSuccess) ce = cudaMemGetInfo(&free_b, &total_b);
    if (ce != cudaSuccess) {
      cudaGetLastError();
      r.reason = device_label(r) + " cannot be used: " + cuda_text(ce);
      return s;
    }
    r.free_bytes = free_b;
    r.total_bytes = total_b;
    ce = dev::probe_kernels();
    if (ce != cudaSuccess) {
      cudaGetLastError();
      r.reason = "this build has no kernel code for " + device_label(r) + ", compute capability " +
                 std::to_string(prop.major) + "." + std::to_string(prop.minor) + " (" + cuda_text(ce) +
                 "): rebuild with QNN_CUDA_ARCHS including it, or update the driver";
      return s;
    }
    if (dev::configure_kernels(s.smem_optin) != cudaSuccess) {
      cudaGetLastError();
      s.smem_optin = 48 * 1024;
    }
    r.available = true;
  } catch (...) {
    r.available = false;
    if (r.reason.empty()) r.reason = "internal error while querying CUDA devices";
  }
  return s;
}

const State& state() {
  static const State s = query();
  return s;
}

// Entry check of every call: throws QNN_E_CUDA_UNAVAILABLE with the reason, else makes the chosen
// device current on the calling thread.
const State& ready() {
  const State& s = state();
  if (!s.info.available)
    throw Error(code::kCudaUnavailable, "the CUDA backend is unavailable: " + s.info.reason + "; use backend 'cpu'");
  check(cudaSetDevice(s.info.device), "cudaSetDevice");
  return s;
}

// ---- RAII: stream, arena, layout ----------------------------------------------------------------

// Owns one non-blocking stream. The destructor waits for the work queued on it (so buffers that
// work uses may be freed afterwards), then destroys it. Used by one thread at a time.
class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"); }
  ~Stream() {
    cudaStreamSynchronize(s_);
    cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void sync(const char* what) const { check(cudaStreamSynchronize(s_), what); }

 private:
  cudaStream_t s_ = nullptr;
};

// One cudaMalloc holding every device buffer of a call (or of an accumulator). Owns it; the
// destructor first drains `stream` (the only stream that uses the buffers), then frees. The
// constructor compares the size with the device's free memory and throws QNN_E_MEMORY with both
// numbers when it does not fit, or when cudaMalloc itself runs out.
class Arena {
 public:
  Arena(cudaStream_t stream, std::size_t bytes, const std::string& what) : stream_(stream), bytes_(bytes) {
    if (bytes == 0) return;
    const Info& i = state().info;
    std::size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    if (bytes > free_b)
      throw Error(code::kMemory, what + " needs " + mib(bytes) + " of device memory (estimate), but only " + mib(free_b) +
                                     " of " + mib(total_b) + " are free on " + device_label(i));
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw Error(code::kMemory, "cudaMalloc: " + cuda_text(e) + ": " + what + " needs " + mib(bytes) + " on " +
                                     device_label(i) + " (" + mib(free_b) + " were free just before)");
    }
    check(e, "cudaMalloc");
    base_ = static_cast<unsigned char*>(p);
  }
  ~Arena() {
    if (!base_) return;
    cudaStreamSynchronize(stream_);
    cudaFree(base_);
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  unsigned char* base() const { return base_; }
  std::size_t bytes() const { return bytes_; }

 private:
  cudaStream_t stream_;
  std::size_t bytes_;
  unsigned char* base_ = nullptr;
};

// Host-to-device uploads of an accumulator's batches through two pinned host buffers: the
// caller's (pageable) data is copied into one buffer on the host while the device still works on
// the previous chunk, then travels by asynchronous DMA. A copy from pageable memory would wait for
// the stream to drain first, so the upload and the device work would not overlap. When pinned
// memory cannot be had, uploads go straight from pageable memory (slower, same results).
class PinnedStager {
 public:
  static constexpr std::size_t kBytes = std::size_t{8} << 20;  // per buffer
  PinnedStager() {
    for (int k = 0; k < 2; ++k) {
      if (cudaHostAlloc(&buf_[k], kBytes, cudaHostAllocDefault) != cudaSuccess ||
          cudaEventCreateWithFlags(&ev_[k], cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        release();
        return;
      }
    }
  }
  ~PinnedStager() { release(); }
  PinnedStager(const PinnedStager&) = delete;
  PinnedStager& operator=(const PinnedStager&) = delete;

  void upload(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
    if (bytes == 0) return;
    if (!buf_[0] || !buf_[1]) {
      check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (host to device)");
      return;
    }
    for (std::size_t off = 0; off < bytes; off += kBytes) {
      const std::size_t n = std::min(kBytes, bytes - off);
      const int k = next_;
      next_ ^= 1;
      if (pending_[k]) check(cudaEventSynchronize(ev_[k]), "cudaEventSynchronize (pinned upload buffer)");
      pending_[k] = false;
      std::memcpy(buf_[k], static_cast<const unsigned char*>(src) + off, n);
      check(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + off, buf_[k], n, cudaMemcpyHostToDevice, s),
            "cudaMemcpyAsync (pinned host to device)");
      check(cudaEventRecord(ev_[k], s), "cudaEventRecord");
      pending_[k] = true;
    }
  }

 private:
  void release() noexcept {
    for (int k = 0; k < 2; ++k) {
      if (ev_[k]) {
        if (pending_[k]) cudaEventSynchronize(ev_[k]);
        cudaEventDestroy(ev_[k]);
      }
      if (buf_[k]) cudaFreeHost(buf_[k]);
      ev_[k] = nullptr;
      buf_[k] = nullptr;
      pending_[k] = false;
    }
  }
  void* buf_[2] = {nullptr, nullptr};
  cudaEvent_t ev_[2] = {nullptr, nullptr};
  bool pending_[2] = {false, false};
  int next_ = 0;
};

// Carves kAlign-aligned buffers out of an arena, or (base == nullptr) only adds up their sizes, so
// one layout function yields both the estimate and the pointers. Sizes saturate near 2^62 bytes
// instead of overflowing (absurd shapes then end as QNN_E_MEMORY).
class Layout {
 public:
  explicit Layout(unsigned char* base = nullptr) : base_(base) {}
  template <typename T>
  T* take(index_t n) {
    if (n <= 0) return nullptr;
    const std::size_t off = bytes_;
    const std::size_t sz = static_cast<std::size_t>(prod(n, static_cast<index_t>(sizeof(T))));
    bytes_ = std::min<std::size_t>(static_cast<std::size_t>(kSat), bytes_ + (sz + kAlign - 1) / kAlign * kAlign);
    return base_ ? reinterpret_cast<T*>(base_ + off) : nullptr;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  unsigned char* base_;
  std::size_t bytes_ = 0;
};

template <typename T>
void to_device(T* dst, const T* src, index_t n, cudaStream_t s) {
  if (n > 0) check(cudaMemcpyAsync(dst, src, sizeof(T) * static_cast<std::size_t>(n), cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (host to device)");
}
template <typename T>
void to_host(T* dst, const T* src, index_t n, cudaStream_t s) {
  if (n > 0) check(cudaMemcpyAsync(dst, src, sizeof(T) * static_cast<std::size_t>(n), cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (device to host)");
}
template <typename T>
void zero(T* p, index_t n, cudaStream_t s) {
  if (n > 0) check(cudaMemsetAsync(p, 0, sizeof(T) * static_cast<std::size_t>(n), s), "cudaMemsetAsync");
}

template <typename T>
void run_gemm(const dev::Gemm<T>& g, void* scratch, std::size_t scratch_bytes, cudaStream_t s) {
  check(dev::gemm<T>(g, static_cast<T*>(scratch), static_cast<index_t>(scratch_bytes / sizeof(T)), s), "gemm kernel launch");
}

dev::Seg seg(dev::Mat a, bool trans_a, dev::Mat b, index_t k, double alpha = 1.0) {
  dev::Seg s;
  s.a = a;
  s.trans_a = trans_a;
  s.b = b;
  s.k = k;
  s.alpha = alpha;
  return s;
}

// Threads per sweep block: spread the n1 neurons over all multiprocessors (the sweep has no other
// parallelism), 32..256 per block.
int sweep_threads(const State& st, index_t n1) {
  const index_t per_sm = ceil_div(n1, st.sm_count);
  return static_cast<int>(std::min<index_t>(256, std::max<index_t>(32, ceil_div(per_sm, 32) * 32)));
}

// Bytes a layout function carves: the same function run in counting mode (Layout without a base),
// so estimates and allocations cannot disagree.
template <typename Bufs, typename Shape>
std::size_t layout_bytes(Bufs (*layout)(Layout&, const Shape&), const Shape& s) {
  Layout L;
  layout(L, s);
  return L.bytes();
}

// ---- conv input staging -------------------------------------------------------------------------

// Whole images travel to the device in chunks of about kImageChunkElems floats; with ZZS sampling
// the positions of those images (qnn::patch_positions on the host) travel with them.
struct ConvPlan {
  index_t img_elems = 0, imgs_per_chunk = 1, rows_per_image = 0;
  bool sampled = false, two = false;
};

ConvPlan conv_plan(const ConvSpec& spec, const ConvGeometry& geo, index_t n_images, bool two) {
  ConvPlan p;
  p.img_elems = prod(prod(spec.h, spec.w), spec.c);
  p.imgs_per_chunk = std::max<index_t>(1, std::min(n_images, kImageChunkElems / std::max<index_t>(1, p.img_elems)));
  p.rows_per_image = geo.rows_per_image;
  p.sampled = spec.mode == PatchMode::kZzs && spec.retain < 1.0;  // patch_positions' identity rule
  p.two = two;
  return p;
}

struct ConvStage {
  float* x = nullptr;
  float* xq = nullptr;
  std::int32_t* pos = nullptr;
};

ConvStage layout_conv(Layout& L, const ConvPlan& p) {
  ConvStage s;
  s.x = L.take<float>(prod(p.imgs_per_chunk, p.img_elems));
  if (p.two) s.xq = L.take<float>(prod(p.imgs_per_chunk, p.img_elems));
  if (p.sampled) s.pos = L.take<std::int32_t>(prod(p.imgs_per_chunk, p.rows_per_image));
  return s;
}

// Uploads images [i0, i0 + ni) of x (and xq) and, when sampled, their patch positions.
// With a stager, the images travel through its pinned buffers.
void stage_images(const ConvSpec& spec, const ConvGeometry& geo, const ConvPlan& p, const ConvStage& st,
                  const float* x, const float* xq, index_t i0, index_t ni, cudaStream_t s, PinnedStager* pin = nullptr) {
  const auto put = [&](float* dst, const float* src) {
    if (pin) pin->upload(dst, src, sizeof(float) * static_cast<std::size_t>(ni * p.img_elems), s);
    else to_device(dst, src, ni * p.img_elems, s);
  };
  put(st.x, x + i0 * p.img_elems);
  if (p.two) put(st.xq, xq + i0 * p.img_elems);
  if (!p.sampled) return;
  // cudaMemcpyAsync from pageable memory returns once the source has been staged, so the vectors
  // may be reused right after it.
  std::vector<std::int32_t> all(static_cast<std::size_t>(ni * p.rows_per_image)), one;
  for (index_t k = 0; k < ni; ++k) {
    patch_positions(spec, geo, i0 + k, &one);
    std::copy(one.begin(), one.end(), all.begin() + k * p.rows_per_image);
  }
  to_device(st.pos, all.data(), ni * p.rows_per_image, s);
}

dev::Im2col im2col_geometry(const ConvSpec& spec, const ConvGeometry& geo) {
  require(geo.cols <= std::numeric_limits<int>::max(), code::kRange, "conv patches wider than 2^31 - 1 columns");
  dev::Im2col a;
  a.h = spec.h;
  a.w = spec.w;
  a.c = spec.c;
  a.kh = spec.kh;
  a.kw = spec.kw;
  a.sh = geo.sh;
  a.sw = geo.sw;
  a.dh = spec.dh;
  a.dw = spec.dw;
  a.pad_top = geo.pad_top;
  a.pad_left = geo.pad_left;
  a.ow = geo.ow;
  a.rows_per_image = geo.rows_per_image;
  a.cols = static_cast<int>(geo.cols);
  a.cols_per_group = static_cast<int>(geo.cols_per_group);
  a.ch_per_group = static_cast<int>(spec.c / spec.groups);
  a.chw = spec.order == ColumnOrder::kChw;
  return a;
}

// ---- Gram accumulator ---------------------------------------------------------------------------

struct GramShape {
  index_t d = 0;
  int groups = 1;
  bool same = false, track_k = false;
  index_t chunk_rows = kChunkRows;
};

template <typename T>
struct GramBufs {
  T* G = nullptr;
  T* H = nullptr;
  T* K = nullptr;
  float* px = nullptr;  // chunk_rows x (groups d) patch / dense rows of X
  float* pq = nullptr;  // same for Xq
  T* scratch = nullptr;
  index_t scratch_elems = 0;
};

template <typename T>
GramBufs<T> layout_gram(Layout& L, const GramShape& s) {
  GramBufs<T> b;
  const index_t dd = prod(prod(s.d, s.d), s.groups);
  b.H = L.take<T>(dd);
  if (!s.same) {
    b.G = L.take<T>(dd);
    if (s.track_k) b.K = L.take<T>(dd);
  }
  const index_t chunk = prod(s.chunk_rows, prod(s.d, s.groups));
  b.px = L.take<float>(chunk);
  if (!s.same) b.pq = L.take<float>(chunk);
  b.scratch_elems = dev::gemm_scratch_elems(s.d, s.d, s.chunk_rows, s.groups);
  b.scratch = L.take<T>(b.scratch_elems);
  return b;
}

std::string gram_what(const GramShape& s, bool f64) {
  return "the CUDA Gram accumulator (d = " + std::to_string(s.d) + ", groups = " + std::to_string(s.groups) + ", " +
         (f64 ? "float64" : "float32") + ", " + std::to_string(s.same ? 1 : (s.track_k ? 3 : 2)) + " matrices)";
}

// G, H, K of every group stay on the device between batches. Owns its stream and arena (the
// arena is declared after the stream, so it is freed before the stream is destroyed, and its
// destructor drains the stream first). Calls come from any thread, one at a time (the binding's
// busy flag); each makes the device current.
template <typename T>
class DeviceGram final : public GramAccumulator {
 public:
  explicit DeviceGram(const GramShape& s)
      : s_(s), arena_(stream_.get(), layout_bytes(layout_gram<T>, s), gram_what(s, sizeof(T) == 8)) {
    Layout L(arena_.base());
    b_ = layout_gram<T>(L, s_);
    const index_t dd = prod(prod(s_.d, s_.d), s_.groups);
    zero(b_.H, dd, stream_.get());
    if (b_.G) zero(b_.G, dd, stream_.get());
    if (b_.K) zero(b_.K, dd, stream_.get());
    stream_.sync("cudaStreamSynchronize (Gram accumulator init)");
  }
  ~DeviceGram() override { cudaSetDevice(state().info.device); }

  void add(const float* x, const float* xq, index_t rows) override {
    ready();
    require(rows >= 0, code::kShape, "rows must be >= 0");
    if (rows == 0) return;
    require(s_.groups == 1, code::kShape,
            "dense rows need an accumulator with groups == 1; grouped inputs go through add_conv");
    require(x != nullptr, code::kEmpty, "x is required");
    check_xq(xq);
    const index_t d = s_.d;
    for (index_t r0 = 0; r0 < rows; r0 += s_.chunk_rows) {
      const index_t rn = std::min(s_.chunk_rows, rows - r0);
      const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(rn * d);
      stager().upload(b_.px, x + r0 * d, bytes, stream_.get());
      if (!s_.same) stager().upload(b_.pq, xq + r0 * d, bytes, stream_.get());
      accumulate(rn, d);
    }
    stream_.sync("cudaStreamSynchronize (Gram add)");
  }

  void add_conv(const ConvSpec& spec, const float* x, const float* xq) override {
    ready();
    const ConvGeometry geo = conv_geometry(spec);
    require(spec.groups == s_.groups && geo.cols_per_group == s_.d, code::kShape,
            "the conv spec (groups " + std::to_string(spec.groups) + ", " + std::to_string(geo.cols_per_group) +
                " columns per group) does not match this accumulator (groups " + std::to_string(s_.groups) +
                ", d = " + std::to_string(s_.d) + ")");
    require(x != nullptr || spec.n == 0, code::kEmpty, "x is required");
    check_xq(xq);
    if (spec.n == 0) return;
    dev::Im2col ax = im2col_geometry(spec, geo);
    const ConvPlan plan = conv_plan(spec, geo, spec.n, !s_.same);
    Arena arena(stream_.get(), layout_bytes(layout_conv, plan), "CUDA conv staging (" + std::to_string(plan.imgs_per_chunk) + " images)");
    Layout carve(arena.base());
    const ConvStage st = layout_conv(carve, plan);
    const index_t rpi = geo.rows_per_image, cols = geo.cols;
    for (index_t i0 = 0; i0 < spec.n; i0 += plan.imgs_per_chunk) {
      const index_t ni = std::min(plan.imgs_per_chunk, spec.n - i0);
      stage_images(spec, geo, plan, st, x, xq, i0, ni, stream_.get(), &stager());
      ax.img0 = i0;
      ax.pos = st.pos;
      for (index_t r = i0 * rpi; r < (i0 + ni) * rpi; r += s_.chunk_rows) {
        const index_t rn = std::min(s_.chunk_rows, (i0 + ni) * rpi - r);
        ax.row0 = r;
        ax.nrows = rn;
        ax.x = st.x;
        ax.dst = b_.px;
        check(dev::im2col(ax, stream_.get()), "im2col kernel launch");
        if (!s_.same) {
          ax.x = st.xq;
          ax.dst = b_.pq;
          check(dev::im2col(ax, stream_.get()), "im2col kernel launch");
        }
        accumulate(rn, cols);
      }
    }
    stream_.sync("cudaStreamSynchronize (Gram add_conv)");
  }

  void download(void* G, void* H, void* K) override {
    ready();
    require(H != nullptr, code::kEmpty, "download needs an H buffer");
    require(!(K && !s_.same && !s_.track_k), code::kValue,
            "this accumulator does not track K (created with track_k = false); pass no K buffer");
    const index_t dd = prod(prod(s_.d, s_.d), s_.groups);
    check(dev::mirror_lower<T>(b_.H, s_.d, s_.groups, stream_.get()), "mirror kernel launch");
    if (b_.K) check(dev::mirror_lower<T>(b_.K, s_.d, s_.groups, stream_.get()), "mirror kernel launch");
    to_host(static_cast<T*>(H), b_.H, dd, stream_.get());
    if (!s_.same && G) to_host(static_cast<T*>(G), b_.G, dd, stream_.get());
    if (!s_.same && K) to_host(static_cast<T*>(K), b_.K, dd, stream_.get());
    stream_.sync("cudaStreamSynchronize (Gram download)");
  }

  std::size_t device_bytes() const override { return arena_.bytes(); }

 private:
  void check_xq(const float* xq) const {
    require((xq == nullptr) == s_.same, code::kValue,
            s_.same ? "this accumulator was created for same inputs; do not pass xq"
                    : "this accumulator needs xq (it was created with same = false)");
  }

  // G += Xq^T X (full), H += Xq^T Xq and K += X^T X (lower), per group, for rows staged in px / pq
  // (row stride ld, group g at column g d).
  void accumulate(index_t rows, index_t ld) {
    dev::Gemm<T> g;
    g.M = g.N = s_.d;
    g.ldc = s_.d;
    g.batch = s_.groups;
    g.a_stride = g.b_stride = s_.d;
    g.c_stride = s_.d * s_.d;
    const dev::Mat x = dev::mat(b_.px, ld);
    // G = Xq'X, H = Xq'Xq, K = X'X (lower triangles of H and K) in one launch where possible.
    dev::Gemm<T> prods[3];
    int n = 0;
    auto product = [&](dev::Mat a, dev::Mat b, T* C, bool lower) {
      g.seg[0] = seg(a, true, b, rows);
      g.C = C;
      g.lower = lower;
      prods[n++] = g;
    };
    if (s_.same) {
      product(x, x, b_.H, true);
    } else {
      const dev::Mat xq = dev::mat(b_.pq, ld);
      product(xq, x, b_.G, false);
      product(xq, xq, b_.H, true);
      if (s_.track_k) product(x, x, b_.K, true);
    }
    check(dev::gemm_many<T>(prods, n, b_.scratch, b_.scratch_elems, stream_.get()),
          "gemm kernel launch");
  }

  PinnedStager& stager() {
    if (!pin_) pin_ = std::make_unique<PinnedStager>();
    return *pin_;
  }

  GramShape s_;
  Stream stream_;
  Arena arena_;
  GramBufs<T> b_;
  std::unique_ptr<PinnedStager> pin_;  // declared last: destroyed first (waits for its copies)
};

// ---- GPFQ ---------------------------------------------------------------------------------------

void check_common(const float* w, index_t n0, index_t n1, const float* levels, int n_levels, const GpfqOptions& opt) {
  require(w != nullptr && n0 > 0 && n1 > 0, code::kEmpty, "weights must be a non-empty n0 x n1 matrix");
  require(levels != nullptr && n_levels >= 1, code::kEmpty, "alphabet must have at least one level");
  require(opt.block >= 1, code::kRange, "block must be >= 1");
}

dev::Quant quant_args(const float* d_levels, int n_levels, const QuantizerSpec& q) {
  dev::Quant a;
  a.levels = d_levels;
  a.n = n_levels;
  a.kind = static_cast<int>(q.kind);
  a.tie_upper = q.tie_upper;
  a.lambda = q.lambda;
  a.delta = q.delta;
  a.k_max = q.k_max;
  return a;
}

std::vector<std::uint32_t> rng_states(index_t n1, std::uint32_t seed) {
  std::vector<std::uint32_t> r(static_cast<std::size_t>(n1));
  for (index_t j = 0; j < n1; ++j) r[j] = mix_seed(seed, static_cast<std::uint32_t>(j));
  return r;
}

// The block sizes a sweep over n0 columns uses (B, and the shorter last block).
std::vector<index_t> block_sizes(index_t n0, index_t B) {
  std::vector<index_t> v{B};
  if (n0 % B != 0) v.push_back(n0 % B);
  return v;
}

// Runs one sweep block; stages Gb / Hb in shared memory when they fit the device's opt-in limit.
template <typename T>
void run_sweep(const State& st, dev::Sweep<T> a, cudaStream_t s) {
  const bool h_is_g = a.H == a.G && a.ldh == a.ldg;
  a.stage = dev::sweep_smem_bytes<T>(a.bs, h_is_g) <= static_cast<std::size_t>(st.smem_optin);
  check(dev::sweep<T>(a, sweep_threads(st, a.n1), s), "sweep kernel launch");
}

struct DirectShape {
  index_t n0 = 0, n1 = 0, m = 0, B = 1;
  bool distinct = false, with_err = true;
  int n_levels = 1;
};

template <typename T>
struct DirectBufs {
  float *x = nullptr, *xq = nullptr, *w = nullptr, *q = nullptr, *levels = nullptr;
  std::int32_t* codes = nullptr;
  std::uint32_t* rng = nullptr;
  T *U = nullptr, *R = nullptr, *Gb = nullptr, *Hb = nullptr, *V = nullptr;
  double *err2 = nullptr, *ref2 = nullptr, *sq = nullptr;
  void* scratch = nullptr;
  std::size_t scratch_bytes = 0;
  index_t err_rows = 0;
};

// Rows of X W per error chunk: a multiple of kSqChunk (so the chunked sums match gpfq.cc's).
index_t err_rows_for(index_t m, index_t n1) {
  const index_t want = std::max<index_t>(dev::kSqChunk, kErrChunkElems / std::max<index_t>(1, n1) / dev::kSqChunk * dev::kSqChunk);
  return std::min(want, ceil_div(m, dev::kSqChunk) * dev::kSqChunk);
}

template <typename T>
DirectBufs<T> layout_direct(Layout& L, const DirectShape& s) {
  DirectBufs<T> b;
  const index_t mn0 = prod(s.m, s.n0), w_elems = prod(s.n0, s.n1);
  b.x = L.take<float>(mn0);
  if (s.distinct) b.xq = L.take<float>(mn0);
  b.w = L.take<float>(w_elems);
  b.q = L.take<float>(w_elems);
  b.codes = L.take<std::int32_t>(w_elems);
  b.levels = L.take<float>(s.n_levels);
  b.rng = L.take<std::uint32_t>(s.n1);
  b.U = L.take<T>(prod(s.m, s.n1));
  b.R = L.take<T>(prod(s.B, s.n1));
  b.Gb = L.take<T>(prod(s.B, s.B));
  if (s.distinct) b.Hb = L.take<T>(prod(s.B, s.B));
  index_t scratch = 0;
  for (index_t bs : block_sizes(s.n0, s.B)) {
    scratch = std::max({scratch, dev::gemm_scratch_elems(bs, s.n1, s.m, 1), dev::gemm_scratch_elems(bs, bs, s.m, 1),
                        dev::gemm_scratch_elems(s.m, s.n1, 2 * bs, 1)});
  }
  if (s.with_err) {
    b.err_rows = err_rows_for(s.m, s.n1);
    b.V = L.take<T>(prod(b.err_rows, s.n1));
    b.sq = L.take<double>(prod(b.err_rows / dev::kSqChunk, s.n1));
    b.err2 = L.take<double>(s.n1);
    b.ref2 = L.take<double>(s.n1);
    scratch = std::max(scratch, dev::gemm_scratch_elems(b.err_rows, s.n1, s.n0, 1));
  }
  b.scratch = L.take<T>(scratch);
  b.scratch_bytes = static_cast<std::size_t>(scratch) * sizeof(T);
  return b;
}

struct GramFormShape {
  index_t n0 = 0, n1 = 0, B = 1;
  bool same = false, has_k = false, with_err = true;
  int n_levels = 1;
};

template <typename T>
struct GramFormBufs {
  T *G = nullptr, *H = nullptr, *K = nullptr, *R = nullptr;
  float *w = nullptr, *q = nullptr, *levels = nullptr;
  std::int32_t* codes = nullptr;
  std::uint32_t* rng = nullptr;
  double *P = nullptr, *D = nullptr, *err2 = nullptr, *ref2 = nullptr;
  void* scratch = nullptr;
  std::size_t scratch_bytes = 0;
};

template <typename T>
GramFormBufs<T> layout_gram_form(Layout& L, const GramFormShape& s) {
  GramFormBufs<T> b;
  const index_t nn = prod(s.n0, s.n0), w_elems = prod(s.n0, s.n1);
  const bool errors = s.with_err && (s.same || s.has_k);
  b.H = L.take<T>(nn);
  if (!s.same) b.G = L.take<T>(nn);
  if (errors && !s.same) b.K = L.take<T>(nn);
  b.w = L.take<float>(w_elems);
  b.q = L.take<float>(w_elems);
  b.codes = L.take<std::int32_t>(w_elems);
  b.levels = L.take<float>(s.n_levels);
  b.rng = L.take<std::uint32_t>(s.n1);
  b.R = L.take<T>(prod(s.B, s.n1));
  std::size_t scratch = 0;
  for (index_t bs : block_sizes(s.n0, s.B))
    scratch = std::max(scratch, static_cast<std::size_t>(dev::gemm_scratch_elems(bs, s.n1, s.n0, 1)) * sizeof(T));
  if (errors) {
    b.P = L.take<double>(w_elems);
    if (s.same) b.D = L.take<double>(w_elems);
    scratch = std::max(scratch, static_cast<std::size_t>(dev::gemm_scratch_elems(s.n0, s.n1, s.n0, 1)) * sizeof(double));
  }
  if (s.with_err) {
    b.err2 = L.take<double>(s.n1);
    b.ref2 = L.take<double>(s.n1);
  }
  b.scratch = L.take<unsigned char>(static_cast<index_t>(scratch));
  b.scratch_bytes = scratch;
  return b;
}

std::string shape_text(index_t n0, index_t n1, index_t B) {
  return "n0 = " + std::to_string(n0) + ", n1 = " + std::to_string(n1) + ", block = " + std::to_string(B);
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------------
// Host pointers stay owned by the caller and are only read / written during the call. Calls are
// independent (own stream, own arena) and may run concurrently from any threads.

// The cached device query (a process-lifetime object); never throws.
const Info& info() { return state().info; }

// The accumulator owns its device memory and stream until it is destroyed (any thread).
std::unique_ptr<GramAccumulator> make_gram_accumulator(index_t d, int groups, bool f64, bool same, bool track_k) {
  ready();
  require(d >= 1 && groups >= 1, code::kShape, "a Gram accumulator needs d >= 1 and groups >= 1");
  GramShape s;
  s.d = d;
  s.groups = groups;
  s.same = same;
  s.track_k = track_k && !same;
  if (f64) return std::unique_ptr<GramAccumulator>(new DeviceGram<double>(s));
  return std::unique_ptr<GramAccumulator>(new DeviceGram<float>(s));
}

// Host-side arithmetic only (no CUDA call); the estimate_* functions never touch the device.
std::size_t estimate_gram_bytes(index_t d, int groups, bool f64, bool same, bool track_k, index_t chunk_rows) {
  if (d < 1 || groups < 1) return 0;
  GramShape s;
  s.d = d;
  s.groups = groups;
  s.same = same;
  s.track_k = track_k && !same;
  s.chunk_rows = chunk_rows >= 1 ? chunk_rows : kChunkRows;
  return f64 ? layout_bytes(layout_gram<double>, s) : layout_bytes(layout_gram<float>, s);
}

std::size_t estimate_gpfq_direct_bytes(index_t n0, index_t n1, index_t m, bool f64, bool distinct, int block) {
  if (n0 < 1 || n1 < 1 || m < 1) return 0;
  DirectShape s;
  s.n0 = n0;
  s.n1 = n1;
  s.m = m;
  s.B = std::min<index_t>(std::max(block, 1), n0);
  s.distinct = distinct;
  s.n_levels = kEstimateLevels;
  return f64 ? layout_bytes(layout_direct<double>, s) : layout_bytes(layout_direct<float>, s);
}

std::size_t estimate_gpfq_gram_bytes(index_t n0, index_t n1, bool f64, bool same, bool track_k, int block) {
  if (n0 < 1 || n1 < 1) return 0;
  GramFormShape s;
  s.n0 = n0;
  s.n1 = n1;
  s.B = std::min<index_t>(std::max(block, 1), n0);
  s.same = same;
  s.has_k = track_k && !same;
  s.n_levels = kEstimateLevels;
  return f64 ? layout_bytes(layout_gram_form<double>, s) : layout_bytes(layout_gram_form<float>, s);
}

// X, Xq, W and the alphabet are uploaded once; U stays on the device; codes, q and the error sums
// come back at the end.
namespace {

// The block sweep's arguments over the device buffers `b` of either form (R, w, q, codes, rng, levels).
template <typename T, typename Bufs>
dev::Sweep<T> make_sweep(const Bufs& b, index_t n1, int n_levels, const GpfqOptions& opt) {
  dev::Sweep<T> sw;
  sw.n1 = n1;
  sw.R = b.R;
  sw.w = b.w;
  sw.q = b.q;
  sw.codes = b.codes;
  sw.rng = b.rng;
  sw.quant = quant_args(b.levels, n_levels, opt.quant);
  sw.dead_zero = opt.dead == DeadRule::kZero;
  sw.shortcut = opt.shortcut;
  return sw;
}

}  // namespace

// Copies a GPFQ run's codes and q to the host, with the per-neuron error sums err2 / ref2 when
// `errors` (turned into err / rel as gpfq.cc does), and waits for the stream.
template <typename Bufs>
void fetch_outputs(const Bufs& b, index_t n0, index_t n1, bool errors, GpfqOutput out, const Stream& stream,
                   const char* what) {
  const cudaStream_t cs = stream.get();
  std::vector<double> err2, ref2;
  if (errors) {
    err2.resize(static_cast<std::size_t>(n1));
    ref2.resize(static_cast<std::size_t>(n1));
    to_host(err2.data(), b.err2, n1, cs);
    to_host(ref2.data(), b.ref2, n1, cs);
  }
  if (out.codes) to_host(out.codes, b.codes, n0 * n1, cs);
  if (out.q) to_host(out.q, b.q, n0 * n1, cs);
  stream.sync(what);
  if (errors) detail::finish_rel(n1, err2, ref2, out);
}

template <typename T>
void gpfq_direct(const float* w, index_t n0, index_t n1, const float* x, const float* xq, index_t m,
                 const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out) {
  const State& st = ready();
  check_common(w, n0, n1, levels, n_levels, opt);
  require(x != nullptr && m > 0, code::kEmpty, "x must hold at least one sample (m > 0)");
  const Quantizer validate(levels, n_levels, opt.quant);
  (void)validate;
  DirectShape s;
  s.n0 = n0;
  s.n1 = n1;
  s.m = m;
  s.B = std::min<index_t>(opt.block, n0);
  s.distinct = xq != nullptr;
  s.with_err = out.err || out.rel;
  s.n_levels = n_levels;
  Stream stream;
  const cudaStream_t cs = stream.get();
  Arena arena(cs, layout_bytes(layout_direct<T>, s), "CUDA gpfq_direct (m = " + std::to_string(m) + ", " + shape_text(n0, n1, s.B) + ")");
  Layout carve(arena.base());
  const DirectBufs<T> b = layout_direct<T>(carve, s);
  const float* xqd = s.distinct ? b.xq : b.x;
  to_device(b.x, x, m * n0, cs);
  if (s.distinct) to_device(b.xq, xq, m * n0, cs);
  to_device(b.w, w, n0 * n1, cs);
  to_device(b.levels, levels, n_levels, cs);
  const std::vector<std::uint32_t> rng = rng_states(n1, opt.quant.seed);
  to_device(b.rng, rng.data(), n1, cs);
  zero(b.U, m * n1, cs);

  dev::Sweep<T> sw = make_sweep<T>(b, n1, n_levels, opt);
  for (index_t t0 = 0; t0 < n0; t0 += s.B) {
    const index_t bs = std::min(s.B, n0 - t0);
    zero(b.R, bs * n1, cs);
    if (t0 > 0) {  // R = Xq_B^T U
      dev::Gemm<T> p;
      p.M = bs;
      p.N = n1;
      p.seg[0] = seg(dev::mat(xqd + t0, n0), true, dev::mat(b.U, n1), m);
      p.C = b.R;
      p.ldc = n1;
      run_gemm<T>(p, b.scratch, b.scratch_bytes, cs);
    }
    dev::Gemm<T> gb;  // Gb = Xq_B^T X_B, Hb = Xq_B^T Xq_B (lower triangles)
    gb.M = gb.N = bs;
    gb.ldc = bs;
    gb.lower = true;
    zero(b.Gb, bs * bs, cs);
    gb.seg[0] = seg(dev::mat(xqd + t0, n0), true, dev::mat(b.x + t0, n0), m);
    gb.C = b.Gb;
    run_gemm<T>(gb, b.scratch, b.scratch_bytes, cs);
    if (s.distinct) {
      zero(b.Hb, bs * bs, cs);
      gb.seg[0] = seg(dev::mat(b.xq + t0, n0), true, dev::mat(b.xq + t0, n0), m);
      gb.C = b.Hb;
      run_gemm<T>(gb, b.scratch, b.scratch_bytes, cs);
    }
    sw.t0 = t0;
    sw.bs = static_cast<int>(bs);
    sw.G = b.Gb;
    sw.ldg = bs;
    sw.H = s.distinct ? b.Hb : b.Gb;
    sw.ldh = bs;
    run_sweep<T>(st, sw, cs);
    dev::Gemm<T> u;  // U += X_B W_B - Xq_B Q_B
    u.M = m;
    u.N = n1;
    u.nseg = 2;
    u.seg[0] = seg(dev::mat(b.x + t0, n0), false, dev::mat(b.w + t0 * n1, n1), bs, 1.0);
    u.seg[1] = seg(dev::mat(xqd + t0, n0), false, dev::mat(b.q + t0 * n1, n1), bs, -1.0);
    u.C = b.U;
    u.ldc = n1;
    run_gemm<T>(u, b.scratch, b.scratch_bytes, cs);
  }
  if (s.with_err) {  // err_j^2 = ||U[:, j]||^2, ref_j^2 = ||X w_j||^2, in 1024-row chunks as gpfq.cc
    zero(b.err2, n1, cs);
    zero(b.ref2, n1, cs);
    for (index_t r0 = 0; r0 < m; r0 += b.err_rows) {
      const index_t rn = std::min(b.err_rows, m - r0);
      const index_t chunks = ceil_div(rn, dev::kSqChunk);
      zero(b.V, rn * n1, cs);
      dev::Gemm<T> v;
      v.M = rn;
      v.N = n1;
      v.seg[0] = seg(dev::mat(b.x + r0 * n0, n0), false, dev::mat(b.w, n1), n0);
      v.C = b.V;
      v.ldc = n1;
      run_gemm<T>(v, b.scratch, b.scratch_bytes, cs);
      check(dev::col_sq_chunks(b.sq, dev::mat(b.U + r0 * n1, n1), rn, n1, cs), "column-sum kernel launch");
      check(dev::add_chunks(b.err2, b.sq, chunks, n1, cs), "column-sum kernel launch");
      check(dev::col_sq_chunks(b.sq, dev::mat(b.V, n1), rn, n1, cs), "column-sum kernel launch");
      check(dev::add_chunks(b.ref2, b.sq, chunks, n1, cs), "column-sum kernel launch");
    }
  }
  fetch_outputs(b, n0, n1, s.with_err, out, stream, "cudaStreamSynchronize (gpfq_direct)");
}

// G, H (and K) are uploaded and mirrored on the device; unlike qnn::gpfq_gram the caller's H and K
// are not modified.
template <typename T>
void gpfq_gram(const float* w, index_t n0, index_t n1, const T* G, const T* H, const T* K, bool same,
               const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out) {
  const State& st = ready();
  check_common(w, n0, n1, levels, n_levels, opt);
  require(H != nullptr && (same || G != nullptr), code::kEmpty, "gram form needs H (and G unless same inputs)");
  const Quantizer validate(levels, n_levels, opt.quant);
  (void)validate;
  GramFormShape s;
  s.n0 = n0;
  s.n1 = n1;
  s.B = std::min<index_t>(opt.block, n0);
  s.same = same;
  s.has_k = !same && K != nullptr;
  s.with_err = out.err || out.rel;
  s.n_levels = n_levels;
  const bool errors = s.with_err && (s.same || s.has_k);
  Stream stream;
  const cudaStream_t cs = stream.get();
  Arena arena(cs, layout_bytes(layout_gram_form<T>, s), "CUDA gpfq_gram (" + shape_text(n0, n1, s.B) + ")");
  Layout carve(arena.base());
  const GramFormBufs<T> b = layout_gram_form<T>(carve, s);
  const index_t nn = n0 * n0;
  to_device(b.H, H, nn, cs);
  if (!same) to_device(b.G, G, nn, cs);
  if (errors && !same) to_device(b.K, K, nn, cs);
  to_device(b.w, w, n0 * n1, cs);
  to_device(b.levels, levels, n_levels, cs);
  const std::vector<std::uint32_t> rng = rng_states(n1, opt.quant.seed);
  to_device(b.rng, rng.data(), n1, cs);
  const T* Gp = same ? b.H : b.G;

  dev::Sweep<T> sw = make_sweep<T>(b, n1, n_levels, opt);
  for (index_t t0 = 0; t0 < n0; t0 += s.B) {
    const index_t bs = std::min(s.B, n0 - t0);
    zero(b.R, bs * n1, cs);
    if (t0 > 0) {  // R = G[B, :t0] W[:t0] - H[B, :t0] Q[:t0]
      dev::Gemm<T> r;
      r.M = bs;
      r.N = n1;
      r.nseg = 2;
      r.seg[0] = seg(dev::mat(Gp + t0 * n0, n0), false, dev::mat(b.w, n1), t0, 1.0);
      r.seg[1] = seg(dev::mat(b.H + t0 * n0, n0), false, dev::mat(b.q, n1), t0, -1.0);
      r.C = b.R;
      r.ldc = n1;
      run_gemm<T>(r, b.scratch, b.scratch_bytes, cs);
    }
    sw.t0 = t0;
    sw.bs = static_cast<int>(bs);
    sw.G = Gp + t0 * n0 + t0;
    sw.ldg = n0;
    sw.H = b.H + t0 * n0 + t0;
    sw.ldh = n0;
    run_sweep<T>(st, sw, cs);
  }
  if (errors) {  // ||X w - Xq q||^2 = w'Kw - 2 q'Gw + q'Hq (same: (w - q)' H (w - q)), in double
    zero(b.err2, n1, cs);
    zero(b.ref2, n1, cs);
    check(dev::mirror_lower<T>(b.H, n0, 1, cs), "mirror kernel launch");
    const index_t wn = n0 * n1;
    dev::Gemm<double> p;
    p.M = n0;
    p.N = n1;
    p.C = b.P;
    p.ldc = n1;
    auto product = [&](const T* A, dev::Mat B) {
      zero(b.P, wn, cs);
      p.seg[0] = seg(dev::mat(A, n0), false, B, n0);
      run_gemm<double>(p, b.scratch, b.scratch_bytes, cs);
    };
    auto dot = [&](double* acc, dev::Mat B, double scale) {
      check(dev::col_dot(acc, dev::mat(b.P, n1), B, n0, n1, scale, cs), "column-sum kernel launch");
    };
    const dev::Mat wm = dev::mat(b.w, n1), qm = dev::mat(b.q, n1);
    if (same) {
      check(dev::diff_f64(b.D, b.w, b.q, wn, cs), "difference kernel launch");
      const dev::Mat dm = dev::mat(b.D, n1);
      product(b.H, dm);
      dot(b.err2, dm, 1.0);
      product(b.H, wm);
      dot(b.ref2, wm, 1.0);
    } else {
      check(dev::mirror_lower<T>(b.K, n0, 1, cs), "mirror kernel launch");
      product(b.K, wm);
      dot(b.err2, wm, 1.0);
      dot(b.ref2, wm, 1.0);
      product(b.G, wm);
      dot(b.err2, qm, -2.0);
      product(b.H, qm);
      dot(b.err2, qm, 1.0);
    }
  }
  fetch_outputs(b, n0, n1, errors, out, stream, "cudaStreamSynchronize (gpfq_gram)");
  if (!errors && s.with_err) {  // neither same inputs nor K: the error is not known (gpfq.cc)
    for (index_t j = 0; j < n1; ++j) {
      if (out.err) out.err[j] = std::numeric_limits<double>::quiet_NaN();
      if (out.rel) out.rel[j] = std::numeric_limits<double>::quiet_NaN();
    }
  }
}

// Uploads only the images that rows [row0, row0 + nrows) come from; dst is written in chunks.
void im2col_rows(const ConvSpec& spec, const float* x, index_t row0, index_t nrows, float* dst) {
  ready();
  const ConvGeometry geo = conv_geometry(spec);
  const index_t total = geo.rows_per_image * spec.n;
  require(row0 >= 0 && nrows >= 0 && row0 + nrows <= total, code::kRange,
          "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) + ") outside the batch's " +
              std::to_string(total) + " patch rows");
  if (nrows == 0) return;
  require(x != nullptr && dst != nullptr, code::kEmpty, "x and dst are required");
  dev::Im2col ax = im2col_geometry(spec, geo);
  const index_t rpi = geo.rows_per_image, cols = geo.cols;
  const index_t first = row0 / rpi, last = (row0 + nrows - 1) / rpi;
  const ConvPlan plan = conv_plan(spec, geo, last - first + 1, false);
  const index_t copy_rows = std::max<index_t>(1, std::min(nrows, kIm2colChunkElems / std::max<index_t>(1, cols)));
  Stream stream;
  const cudaStream_t cs = stream.get();
  Layout count;
  layout_conv(count, plan);
  count.take<float>(prod(copy_rows, cols));
  Arena arena(cs, count.bytes(), "CUDA im2col (" + std::to_string(copy_rows) + " x " + std::to_string(cols) + " patches)");
  Layout carve(arena.base());
  const ConvStage st = layout_conv(carve, plan);
  float* patches = carve.take<float>(prod(copy_rows, cols));
  for (index_t i0 = first; i0 <= last; i0 += plan.imgs_per_chunk) {
    const index_t ni = std::min(plan.imgs_per_chunk, last + 1 - i0);
    stage_images(spec, geo, plan, st, x, nullptr, i0, ni, cs);
    ax.x = st.x;
    ax.img0 = i0;
    ax.pos = st.pos;
    ax.dst = patches;
    const index_t r_end = std::min(row0 + nrows, (i0 + ni) * rpi);
    for (index_t r = std::max(row0, i0 * rpi); r < r_end; r += copy_rows) {
      const index_t rn = std::min(copy_rows, r_end - r);
      ax.row0 = r;
      ax.nrows = rn;
      check(dev::im2col(ax, cs), "im2col kernel launch");
      to_host(dst + (r - row0) * cols, patches, rn * cols, cs);
    }
  }
  stream.sync("cudaStreamSynchronize (im2col)");
}

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
