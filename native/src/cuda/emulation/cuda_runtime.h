// Host emulation of the part of the CUDA runtime that native/src/cuda uses, for running the CUDA
// backend's kernels and host code on a machine without a GPU (run.sh). A development aid, never
// part of a build that ships: run.sh rewrites `k<<<g, b, smem, s>>>(args)` into
// qnn_emu::launch(k, g, b, smem, s, args) and compiles the .cu files as C++ against this header.
//
// Model: blocks run one after another on the calling thread; the threads of a block are ucontext
// fibers and __syncthreads() switches to the next fiber, so every thread reaches each barrier
// before any passes it. Kernels whose thread 0 never synchronises run their threads back to back.
// __shared__ arrays are function statics (one block at a time); dynamic shared memory and every
// cudaMalloc are filled with 0xFF bytes (NaN) first, so unwritten reads show up. The _rn
// intrinsics, fma and the conversions are the IEEE operations the device performs, so results
// match a GPU's bit for bit when the kernels are race-free. Not modelled: warps, intra-block races
// (threads never interleave between barriers), the memory model, device limits beyond the launch
// configuration checks below, timings. Streams are synchronous; errors are "sticky" only until
// cudaGetLastError() as on a device.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
};
typedef struct CUstream_st* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
constexpr unsigned cudaStreamNonBlocking = 1;
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  std::size_t totalGlobalMem;
  int multiProcessorCount;
  std::size_t sharedMemPerBlockOptin;
};
struct cudaFuncAttributes {
  int numRegs;
};

namespace qnn_emu {

inline cudaError_t last_error = cudaSuccess;
inline std::set<void*> allocations;
inline int max_dynamic_smem = 48 * 1024;
inline constexpr std::size_t kSmemOptin = 232448;  // as on sm_90
inline constexpr std::size_t kFreeBytes = std::size_t{4} << 30;
inline std::vector<unsigned char> dynamic_smem(kSmemOptin);
inline unsigned char* dyn_smem() { return dynamic_smem.data(); }

struct Fiber {
  ucontext_t uc;
  std::vector<char> stack;
  bool started = false, done = false;
};
inline ucontext_t scheduler;
inline Fiber* current = nullptr;
inline std::function<void()>* body = nullptr;
inline bool in_fiber = false, synced = false;

inline void fiber_entry() {
  (*body)();
  current->done = true;
  swapcontext(&current->uc, &scheduler);
}

inline void syncthreads() {
  synced = true;
  if (!in_fiber) {
    std::fprintf(stderr, "emulation: __syncthreads() in a kernel whose thread 0 did not synchronise\n");
    std::abort();
  }
  swapcontext(&current->uc, &scheduler);
}

template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 g, dim3 b, std::size_t smem, cudaStream_t, A&&... a) {
  const unsigned nt = b.x * b.y * b.z;
  if (nt == 0 || nt > 1024 || g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535 ||
      smem > static_cast<std::size_t>(max_dynamic_smem)) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  std::tuple<std::decay_t<P>...> args(std::forward<A>(a)...);
  std::function<void()> run = [&]() { std::apply(kernel, args); };
  body = &run;
  static std::vector<Fiber> fibers;
  if (fibers.size() < nt) fibers.resize(nt);
  for (auto& f : fibers)
    if (f.stack.empty()) f.stack.resize(256 * 1024);
  blockDim = b;
  gridDim = g;
  auto set_tid = [&](unsigned t) { threadIdx = dim3(t % b.x, (t / b.x) % b.y, t / (b.x * b.y)); };
  auto resume = [&](unsigned t) {
    Fiber& f = fibers[t];
    current = &f;
    set_tid(t);
    in_fiber = true;
    if (!f.started) {
      f.started = true;
      getcontext(&f.uc);
      f.uc.uc_stack.ss_sp = f.stack.data();
      f.uc.uc_stack.ss_size = f.stack.size();
      f.uc.uc_link = nullptr;
      makecontext(&f.uc, fiber_entry, 0);
    }
    swapcontext(&scheduler, &f.uc);
    in_fiber = false;
  };
  for (unsigned bz = 0; bz < g.z; ++bz)
    for (unsigned by = 0; by < g.y; ++by)
      for (unsigned bx = 0; bx < g.x; ++bx) {
        blockIdx = dim3(bx, by, bz);
        std::memset(dynamic_smem.data(), 0xFF, smem);
        for (unsigned t = 0; t < nt; ++t) fibers[t].started = fibers[t].done = false;
        synced = false;
        resume(0);
        if (!synced) {  // no barrier in this kernel: the other threads run straight
          for (unsigned t = 1; t < nt; ++t) {
            set_tid(t);
            run();
          }
          continue;
        }
        for (unsigned first = 1;; first = 0) {  // one pass = one barrier phase
          for (unsigned t = first; t < nt; ++t)
            if (!fibers[t].done) resume(t);
          bool all_done = true;
          for (unsigned t = 0; t < nt; ++t) all_done = all_done && fibers[t].done;
          if (all_done) break;
        }
      }
}

}  // namespace qnn_emu

inline void __syncthreads() { qnn_emu::syncthreads(); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = qnn_emu::last_error;
  qnn_emu::last_error = cudaSuccess;
  return e;
}
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    default: return "cudaErrorUnknown";
  }
}
inline const char* cudaGetErrorString(cudaError_t) { return "(host emulation)"; }
inline cudaError_t cudaRuntimeGetVersion(int* v) { return *v = 13000, cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { return *v = 13000, cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { return *n = 1, cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof *p);
  std::strcpy(p->name, "host emulation");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = std::size_t{8} << 30;
  p->multiProcessorCount = 3;
  p->sharedMemPerBlockOptin = qnn_emu::kSmemOptin;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaMemGetInfo(std::size_t* free_b, std::size_t* total_b) {
  *free_b = qnn_emu::kFreeBytes;
  *total_b = std::size_t{8} << 30;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, std::size_t n) {
  if (n > qnn_emu::kFreeBytes) return qnn_emu::last_error = cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  std::memset(*p, 0xFF, n);
  qnn_emu::allocations.insert(*p);
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  if (!qnn_emu::allocations.erase(p)) {
    std::fprintf(stderr, "emulation: cudaFree of a pointer cudaMalloc did not return\n");
    std::abort();
  }
  std::free(p);
  return cudaSuccess;
}
// Streams and events are opaque handles with nothing behind them.
namespace qnn_emu {
template <class H>
cudaError_t new_handle(H* h) {
  *h = reinterpret_cast<H>(new int(0));
  return cudaSuccess;
}
template <class H>
cudaError_t delete_handle(H h) {
  delete reinterpret_cast<int*>(h);
  return cudaSuccess;
}
}  // namespace qnn_emu
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return qnn_emu::new_handle(s); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { return qnn_emu::delete_handle(s); }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, std::size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, std::size_t n, cudaStream_t) {
  std::memset(d, v, n);
  return cudaSuccess;
}
// Pinned host memory is ordinary memory here; events complete at once (streams are synchronous).
constexpr unsigned cudaHostAllocDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;
typedef struct CUevent_st* cudaEvent_t;
inline cudaError_t cudaHostAlloc(void** p, std::size_t n, unsigned) {
  *p = std::aligned_alloc(4096, (n + 4095) / 4096 * 4096);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return qnn_emu::new_handle(e); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { return qnn_emu::delete_handle(e); }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
template <class F>
cudaError_t cudaFuncSetAttribute(F*, cudaFuncAttribute, int v) {
  if (v < 0 || static_cast<std::size_t>(v) > qnn_emu::kSmemOptin) return cudaErrorInvalidValue;
  qnn_emu::max_dynamic_smem = v;
  return cudaSuccess;
}
template <class F>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, F*) {
  a->numRegs = 0;
  return cudaSuccess;
}
