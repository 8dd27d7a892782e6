// Minimal task parallelism: OpenMP when the build found it, std::thread otherwise.
// Threads never outlive the call and never touch N-API.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(QNN_WITH_OPENMP)
#include <omp.h>
#endif

#include "qnn/common.h"

namespace qnn {

// Runs f(task, worker) for task in [0, n_tasks) on up to `threads` workers (dynamic schedule).
// The first exception thrown by any task is rethrown on the calling thread after all finish.
template <typename F>
void parallel_for(index_t n_tasks, int threads, F&& f) {
  if (n_tasks <= 0) return;
  if (threads > n_tasks) threads = static_cast<int>(n_tasks);
  if (threads <= 1) {
    for (index_t i = 0; i < n_tasks; ++i) f(i, 0);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mu;
#if defined(QNN_WITH_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (index_t i = 0; i < n_tasks; ++i) {
    try {
      f(i, omp_get_thread_num());
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  }
#else
  std::atomic<index_t> next{0};
  auto work = [&](int worker) {
    for (;;) {
      index_t i = next.fetch_add(1);
      if (i >= n_tasks) break;
      try {
        f(i, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
#endif
  if (error) std::rethrow_exception(error);
}

}  // namespace qnn
