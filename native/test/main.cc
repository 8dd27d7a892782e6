#include <cstdio>
#include <cstring>

#include "qtest.h"

namespace qtest {
std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}
int g_failures = 0;
}  // namespace qtest

int main(int argc, char** argv) {
  int passed = 0, failed = 0;
  for (auto& c : qtest::registry()) {
    if (argc > 1 && !std::strstr(c.name, argv[1])) continue;
    int before = qtest::g_failures;
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::printf("  uncaught exception: %s\n", e.what());
      ++qtest::g_failures;
    }
    bool ok = qtest::g_failures == before;
    std::printf("%s %s\n", ok ? "[ OK ]" : "[FAIL]", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("qnn_core_tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
