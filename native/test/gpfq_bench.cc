// Timing probe for the GPFQ forms: qnn_gpfq_bench m n0 n1 [threads] [f32|f64]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "qnn/alphabet.h"
#include "qnn/gpfq.h"
#include "qnn/gram.h"

using clk = std::chrono::steady_clock;
static double since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

template <typename T>
void run(long m, long n0, long n1, int threads) {
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  std::vector<float> w(n0 * n1), x(m * n0), xq(m * n0);
  for (auto& v : w) v = 0.1f * nd(g);
  for (size_t i = 0; i < x.size(); ++i) { x[i] = std::max(0.f, nd(g)); xq[i] = std::max(0.f, x[i] + 0.1f * nd(g)); }
  qnn::AlphabetSpec spec;
  spec.bits = 4; spec.scalar = 3;
  auto lv = qnn::make_alphabet(spec, w.data(), n0, n1);
  std::vector<int32_t> codes(n0 * n1);
  std::vector<float> q(n0 * n1);
  std::vector<double> err(n1), rel(n1);
  qnn::GpfqOptions o;
  o.threads = threads;
  auto t = clk::now();
  qnn::gpfq_direct<T>(w.data(), n0, n1, x.data(), xq.data(), m, lv.data(), (int)lv.size(), o, {codes.data(), q.data(), err.data(), rel.data()});
  double td = since(t);
  t = clk::now();
  std::vector<T> G(n0 * n0), H(n0 * n0), K(n0 * n0);
  qnn::gram_accumulate<T>(G.data(), H.data(), K.data(), n0, x.data(), xq.data(), m, n0, threads);
  double tacc = since(t);
  t = clk::now();
  qnn::gpfq_gram<T>(w.data(), n0, n1, G.data(), H.data(), K.data(), false, lv.data(), (int)lv.size(), o, {codes.data(), q.data(), err.data(), rel.data()});
  double tg = since(t);
  std::printf("%s m=%ld n0=%ld n1=%ld: direct %.3f s | gram accumulate %.3f s + sweep %.3f s = %.3f s\n",
              sizeof(T) == 4 ? "f32" : "f64", m, n0, n1, td, tacc, tg, tacc + tg);
}

int main(int argc, char** argv) {
  long m = atol(argv[1]), n0 = atol(argv[2]), n1 = atol(argv[3]);
  int threads = argc > 4 ? atoi(argv[4]) : 2;
  if (argc > 5 && !strcmp(argv[5], "f64")) run<double>(m, n0, n1, threads); else run<float>(m, n0, n1, threads);
}
