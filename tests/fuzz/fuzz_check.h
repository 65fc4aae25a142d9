// The fuzz targets' assertion: a property that does not hold is a crash,
// which libFuzzer reports with the input that caused it.
#ifndef ETAGD_TESTS_FUZZ_FUZZ_CHECK_H_
#define ETAGD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

namespace etagd {
namespace fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              const std::string& detail) {
  std::fprintf(stderr, "%s:%d: property violated: %s\n  %s\n", file, line,
               condition, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace fuzz
}  // namespace etagd

// Aborts with `detail` (a std::string, built only on failure) unless
// `condition` holds.
#define ETAGD_FUZZ_CHECK(condition, detail)                          \
  do {                                                               \
    if (!(condition)) {                                              \
      ::etagd::fuzz::Fail(__FILE__, __LINE__, #condition, (detail)); \
    }                                                                \
  } while (false)

#endif  // ETAGD_TESTS_FUZZ_FUZZ_CHECK_H_
