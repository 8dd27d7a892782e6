#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "qnn/gemm.h"
#include "qtest.h"

using qnn::index_t;

namespace {

std::vector<float> randv(std::size_t n, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Reference C += sum alpha op(A) B in long double.
void gemm_ref(index_t M, index_t N, const std::vector<qnn::GemmSeg>& segs, std::vector<double>& C) {
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      long double acc = 0;
      for (const auto& s : segs)
        for (index_t p = 0; p < s.k; ++p) {
          index_t ai = s.trans_a == qnn::Trans::kT ? p * s.lda + i : i * s.lda + p;
          double a = s.a_f64 ? static_cast<const double*>(s.a)[ai] : static_cast<const float*>(s.a)[ai];
          double b = s.b_f64 ? static_cast<const double*>(s.b)[p * s.ldb + j] : static_cast<const float*>(s.b)[p * s.ldb + j];
          acc += static_cast<long double>(s.alpha) * a * b;
        }
      C[i * N + j] += static_cast<double>(acc);
    }
}

template <typename T>
void check_gemm(index_t M, index_t N, index_t K1, index_t K2, bool t1, bool t2, int threads, bool lower) {
  auto A1 = randv(M * K1 + 7, 1), B1 = randv(K1 * N + 3, 2), A2 = randv(M * K2 + 5, 3), B2 = randv(K2 * N + 1, 4);
  std::vector<qnn::GemmSeg> segs;
  segs.push_back(qnn::seg(t1 ? qnn::Trans::kT : qnn::Trans::kN, A1.data(), t1 ? M : K1, B1.data(), N, K1, 1.0));
  if (K2 > 0) segs.push_back(qnn::seg(t2 ? qnn::Trans::kT : qnn::Trans::kN, A2.data(), t2 ? M : K2, B2.data(), N, K2, -0.5));
  auto C0 = randv(M * N, 5);
  std::vector<T> C(C0.begin(), C0.end());
  std::vector<double> R(C0.begin(), C0.end());
  qnn::GemmOptions o;
  o.threads = threads;
  o.lower_only = lower;
  qnn::gemm<T>(M, N, segs.data(), static_cast<int>(segs.size()), C.data(), N, o);
  gemm_ref(M, N, segs, R);
  double tol = (std::is_same<T, float>::value ? 2e-5 : 1e-12) * (K1 + K2 + 1);
  double worst = 0;
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      if (lower && j > i) continue;
      worst = std::max(worst, std::fabs(C[i * N + j] - R[i * N + j]));
    }
  QCHECK(worst <= tol);
  if (worst > tol) std::printf("    M=%lld N=%lld K=%lld+%lld worst=%g\n", (long long)M, (long long)N, (long long)K1, (long long)K2, worst);
}

}  // namespace

QTEST(gemm_matches_reference_on_odd_shapes) {
  for (int threads : {1, 2, 3})
    for (bool t1 : {false, true})
      for (bool t2 : {false, true}) {
        check_gemm<float>(37, 29, 300, 0, t1, t2, threads, false);
        check_gemm<double>(37, 29, 300, 0, t1, t2, threads, false);
        check_gemm<float>(150, 170, 130, 140, t1, t2, threads, false);
        check_gemm<double>(101, 65, 257, 3, t1, t2, threads, false);
        check_gemm<float>(1, 1, 1, 1, t1, t2, threads, false);
      }
}

QTEST(gemm_lower_only_matches_on_lower_triangle) {
  for (int threads : {1, 2}) {
    check_gemm<float>(203, 203, 520, 0, true, true, threads, true);
    check_gemm<double>(77, 77, 64, 0, true, true, threads, true);
  }
}

QTEST(gemm_mixed_precision_packs_float_into_double) {
  index_t M = 40, N = 33, K = 70;
  auto A = randv(K * M, 9);
  std::vector<double> B(K * N);
  for (index_t i = 0; i < K * N; ++i) B[i] = std::sin(i * 0.37);
  std::vector<qnn::GemmSeg> segs{qnn::seg(qnn::Trans::kT, A.data(), M, B.data(), N, K, 2.0)};
  std::vector<double> C(M * N, 0.0), R(M * N, 0.0);
  qnn::GemmOptions o;
  qnn::gemm<double>(M, N, segs.data(), 1, C.data(), N, o);
  gemm_ref(M, N, segs, R);
  for (index_t i = 0; i < M * N; ++i) QCHECK_NEAR(C[i], R[i], 1e-12);
}

QTEST(mirror_lower_copies_lower_triangle) {
  index_t n = 131;
  std::vector<float> C(n * n);
  for (index_t i = 0; i < n * n; ++i) C[i] = static_cast<float>(i);
  qnn::mirror_lower(C.data(), n, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) QCHECK(C[i * n + j] == C[std::max(i, j) * n + std::min(i, j)]);
}
