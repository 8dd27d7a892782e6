// Quick GEMM / Gram throughput probe: qnn_gemm_bench M N K [threads] [f32|f64] [tn|nn]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "qnn/gemm.h"

int main(int argc, char** argv) {
  long M = argc > 1 ? atol(argv[1]) : 1024, N = argc > 2 ? atol(argv[2]) : 1024, K = argc > 3 ? atol(argv[3]) : 1024;
  int threads = argc > 4 ? atoi(argv[4]) : 2;
  bool f64 = argc > 5 && !strcmp(argv[5], "f64");
  bool tn = argc > 6 && !strcmp(argv[6], "tn");
  std::vector<float> A(M * K), B(K * N);
  for (auto& v : A) v = (rand() % 1000) / 1000.0f;
  for (auto& v : B) v = (rand() % 1000) / 1000.0f;
  qnn::GemmOptions o;
  o.threads = threads;
  qnn::GemmSeg s = qnn::seg(tn ? qnn::Trans::kT : qnn::Trans::kN, A.data(), tn ? M : K, B.data(), N, K);
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<float> Cf;
    std::vector<double> Cd;
    if (f64) Cd.assign(M * N, 0); else Cf.assign(M * N, 0);
    auto t0 = std::chrono::steady_clock::now();
    if (f64) qnn::gemm<double>(M, N, &s, 1, Cd.data(), N, o);
    else qnn::gemm<float>(M, N, &s, 1, Cf.data(), N, o);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt < best) best = dt;
  }
  std::printf("%s M=%ld N=%ld K=%ld threads=%d %s: %.4f s  %.1f GFLOP/s (kernel %s)\n", f64 ? "f64" : "f32", M, N, K,
              threads, tn ? "TN" : "NN", best, 2.0 * M * N * K / best / 1e9, qnn::gemm_kernel_name());
}
