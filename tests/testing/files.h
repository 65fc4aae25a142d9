// Reading and replacing whole files in tests.
#ifndef ETAGD_TESTS_TESTING_FILES_H_
#define ETAGD_TESTS_TESTING_FILES_H_

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace etagd {

// The whole content of `path`; empty if it cannot be read.
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Replaces `path` the way a Kubernetes Secret or ConfigMap update does: a
// new file renamed over the old one, so a reader sees the old or the new
// content, never a mix.
inline void WriteAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(std::rename(temporary.c_str(), path.c_str()), 0);
}

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_FILES_H_
