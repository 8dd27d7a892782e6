// A few lines of test harness so the core tests need nothing but a C++17 compiler.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace qtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
extern int g_failures;

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace qtest

#define QTEST(name)                                              \
  static void name();                                            \
  static qtest::Registrar name##_registrar(#name, name);         \
  static void name()

#define QCHECK(cond)                                                                   \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      if (qtest::g_failures < 20) std::printf("  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
      ++qtest::g_failures;                                                             \
    }                                                                                  \
  } while (0)

#define QCHECK_NEAR(a, b, tol)                                                                        \
  do {                                                                                                \
    double qa_ = (a), qb_ = (b);                                                                      \
    if (!(std::fabs(qa_ - qb_) <= (tol))) {                                                           \
      if (qtest::g_failures < 20) std::printf("  CHECK_NEAR failed at %s:%d: %s=%.9g %s=%.9g tol=%g\n", __FILE__, __LINE__, #a, qa_, \
                  #b, qb_, (double)(tol));                                                            \
      ++qtest::g_failures;                                                                            \
    }                                                                                                 \
  } while (0)

#define QCHECK_THROWS_CODE(expr, codestr)                                                     \
  do {                                                                                        \
    bool thrown_ = false;                                                                     \
    try {                                                                                     \
      expr;                                                                                   \
    } catch (const qnn::Error& e_) {                                                          \
      thrown_ = std::string(e_.code()) == (codestr);                                          \
      if (!thrown_) std::printf("  wrong code %s (%s)\n", e_.code(), e_.what());              \
    }                                                                                         \
    if (!thrown_) {                                                                           \
      std::printf("  expected %s from %s at %s:%d\n", codestr, #expr, __FILE__, __LINE__);    \
      ++qtest::g_failures;                                                                    \
    }                                                                                         \
  } while (0)
