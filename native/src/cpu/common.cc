#include "qnn/common.h"

#include <algorithm>
#include <thread>

#if defined(QNN_WITH_OPENMP)
#include <omp.h>
#endif

namespace qnn {

int default_threads() {
#if defined(QNN_WITH_OPENMP)
  int n = omp_get_num_procs();
#else
  int n = static_cast<int>(std::thread::hardware_concurrency());
#endif
  return std::max(1, n);
}

int resolve_threads(int requested) {
  if (requested <= 0) return default_threads();
  return std::min(requested, 256);
}

}  // namespace qnn
