// CUDA kernel benchmark (built with the tests when the CUDA backend is compiled): host-to-device
// bandwidth from pageable and pinned memory, and the Gram GEMM kernels alone on device data (the
// fast float kernel and the general kernel, one product and the three-product launch), timed with
// CUDA events. Prints one JSON object. Needs a GPU; exits 2 without one.
//   qnn_cuda_bench [d ...]      (default d = 1152 2304; K = 4096 rows per update, as the accumulator)
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../src/cuda/device.cuh"

namespace dev = qnn::cuda::dev;
using qnn::index_t;

namespace {

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

double h2d_gbs(bool pinned, std::size_t bytes) {
  void* host = nullptr;
  if (pinned) ok(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  else host = std::malloc(bytes);
  std::memset(host, 1, bytes);
  void* d = nullptr;
  ok(cudaMalloc(&d, bytes), "cudaMalloc");
  ok(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), "warm-up copy");
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t = std::chrono::steady_clock::now();
    ok(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  cudaFree(d);
  if (pinned) cudaFreeHost(host);
  else std::free(host);
  return static_cast<double>(bytes) / best / 1e9;
}

template <typename T>
struct Case {
  double ms = 0, tflops = 0;
};

// Mean time of one launch of `n` Gram products (G full; H, K lower) with K rows of d columns.
template <typename T>
Case<T> gram_gemm(index_t d, index_t K, int n, int mode) {
  float *x = nullptr, *xq = nullptr;
  T* C = nullptr;
  ok(cudaMalloc(&x, sizeof(float) * K * d), "cudaMalloc");
  ok(cudaMalloc(&xq, sizeof(float) * K * d), "cudaMalloc");
  ok(cudaMalloc(&C, sizeof(T) * 3 * d * d), "cudaMalloc");
  std::vector<float> h(static_cast<std::size_t>(K * d));
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f;
  ok(cudaMemcpy(x, h.data(), sizeof(float) * h.size(), cudaMemcpyHostToDevice), "upload");
  ok(cudaMemcpy(xq, h.data(), sizeof(float) * h.size(), cudaMemcpyHostToDevice), "upload");
  ok(cudaMemset(C, 0, sizeof(T) * 3 * d * d), "memset");
  dev::Gemm<T> g[3];
  double flops = 0;
  for (int j = 0; j < n; ++j) {
    g[j].M = g[j].N = d;
    g[j].ldc = d;
    g[j].seg[0].a = dev::mat(j == 2 ? x : xq, d);
    g[j].seg[0].trans_a = true;
    g[j].seg[0].b = dev::mat(j == 1 ? xq : x, d);
    g[j].seg[0].k = K;
    g[j].C = C + j * d * d;
    g[j].lower = j > 0;
    flops += j == 0 ? 2.0 * K * d * d : 1.0 * K * d * (d + 1);
  }
  dev::set_gemm_kernel(mode);
  cudaStream_t s;
  ok(cudaStreamCreate(&s), "stream");
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  ok(dev::gemm_many<T>(g, n, nullptr, 0, s), "warm-up launch");
  const int reps = 20;
  cudaEventRecord(a, s);
  for (int r = 0; r < reps; ++r) ok(dev::gemm_many<T>(g, n, nullptr, 0, s), "launch");
  cudaEventRecord(b, s);
  ok(cudaEventSynchronize(b), "sync");
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  dev::set_gemm_kernel(0);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaStreamDestroy(s);
  cudaFree(x);
  cudaFree(xq);
  cudaFree(C);
  Case<T> c;
  c.ms = ms / reps;
  c.tflops = flops / (c.ms * 1e-3) / 1e12;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "qnn_cuda_bench: no CUDA device\n");
    return 2;
  }
  cudaDeviceProp p;
  ok(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  int clock_khz = 0, sms = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  // FP32 lanes per SM: 64 on sm_80, 128 on sm_86 / 89 / 90.
  const int lanes = p.major == 8 && p.minor == 0 ? 64 : 128;
  const double peak = 2.0 * lanes * sms * clock_khz * 1e3 / 1e12;
  std::vector<index_t> ds;
  for (int i = 1; i < argc; ++i) ds.push_back(std::atoll(argv[i]));
  if (ds.empty()) ds = {1152, 2304};
  const index_t K = 4096;
  std::printf("{\"device\": \"%s\", \"sms\": %d, \"clockMHz\": %d, \"fp32PeakTflops\": %.1f,\n", p.name, sms,
              clock_khz / 1000, peak);
  std::printf(" \"h2dGBs\": {\"pageable\": %.2f, \"pinned\": %.2f},\n \"gemm\": [", h2d_gbs(false, 256u << 20),
              h2d_gbs(true, 256u << 20));
  bool first = true;
  for (index_t d : ds) {
    for (int n : {1, 3}) {
      for (int mode : {0, 1}) {
        const Case<float> c = gram_gemm<float>(d, K, n, mode);
        std::printf("%s\n  {\"d\": %lld, \"K\": %lld, \"products\": %d, \"type\": \"float\", \"kernel\": \"%s\", \"ms\": %.3f, \"tflops\": %.2f, \"ofPeak\": %.3f}",
                    first ? "" : ",", static_cast<long long>(d), static_cast<long long>(K), n, mode ? "general" : "fast",
                    c.ms, c.tflops, c.tflops / peak);
        first = false;
      }
    }
    const Case<double> c = gram_gemm<double>(d, K, 3, 0);
    std::printf(",\n  {\"d\": %lld, \"K\": %lld, \"products\": 3, \"type\": \"double\", \"kernel\": \"general\", \"ms\": %.3f, \"tflops\": %.2f}",
                static_cast<long long>(d), static_cast<long long>(K), c.ms, c.tflops);
  }
  std::printf("\n]}\n");
  return 0;
}
