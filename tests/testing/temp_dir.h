// Per-test scratch directories under Bazel's TEST_TMPDIR.
#ifndef ETAGD_TESTS_TESTING_TEMP_DIR_H_
#define ETAGD_TESTS_TESTING_TEMP_DIR_H_

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace etagd {

// A fresh, not yet existing path unique to the running test: TEST_TMPDIR (or
// /tmp) / suite.test / `leaf`.
inline std::string TestPath(const std::string& leaf) {
  const char* root = std::getenv("TEST_TMPDIR");
  const testing::TestInfo* info =
      testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat(info->test_suite_name(), ".", info->name());
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return absl::StrCat(root != nullptr ? root : "/tmp", "/", name, "-", leaf);
}

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_TEMP_DIR_H_
