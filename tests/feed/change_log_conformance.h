// What every engine's change log must do for the change feed (Store's
// Changes, ReadChanges, View and SetCommitListener), written once
// (change_log_conformance.cc) and run against each engine:
//
//   INSTANTIATE_TEST_SUITE_P(RocksDb, ChangeLogConformanceTest,
//                            testing::Values(RocksDbChangeLog()),
//                            ChangeLogConformanceTest::EngineName);
#ifndef ETAGD_TESTS_FEED_CHANGE_LOG_CONFORMANCE_H_
#define ETAGD_TESTS_FEED_CHANGE_LOG_CONFORMANCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "service/store/store.h"

namespace etagd {

// One test's data in one engine. Created per test.
class ChangeLogEngine {
 public:
  virtual ~ChangeLogEngine() = default;
  // Opens a store over the test's data keeping at least the last
  // `retention_revisions` revisions in its change log (0: all). The test
  // closes the store it had before opening the next (a restart).
  virtual absl::StatusOr<std::unique_ptr<Store>> Open(
      int64_t retention_revisions) = 0;
  // Prunes `store`'s change log to its retention now.
  virtual absl::Status Prune(Store& store) = 0;
};

struct ChangeLogEngineFactory {
  std::string name;
  std::function<std::unique_ptr<ChangeLogEngine>()> make;
};

class ChangeLogConformanceTest
    : public testing::TestWithParam<ChangeLogEngineFactory> {
 public:
  static std::string EngineName(
      const testing::TestParamInfo<ChangeLogEngineFactory>& info) {
    return info.param.name;
  }

 protected:
  void SetUp() override;
  void TearDown() override;
  void Open(int64_t retention_revisions = 0);

  // Writes expecting the current revision; fails the test if it fails.
  // Returns once the change log has the write (an engine may answer a
  // write before its log learns of it, see ChangeWindow).
  Record Put(const std::string& name, const std::string& content);
  Record Delete(const std::string& name);
  // Writes (or deletes) `name` and returns at once, as a client's write
  // does.
  Record Write(const std::string& name, const std::string& content,
               bool is_delete = false);
  // Waits (at most 20 s, else the test fails) until committed_revision
  // reaches `revision`.
  void AwaitLogged(int64_t revision);

  std::unique_ptr<ChangeLogEngine> engine_;
  std::unique_ptr<Store> store_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_FEED_CHANGE_LOG_CONFORMANCE_H_
