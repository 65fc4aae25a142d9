// The behaviour every Store engine must have, written once
// (store_conformance.cc) and run against each engine: an engine's test
// instantiates the suite with a factory for its store,
//
//   INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
//                            testing::Values(RocksDbEngine()),
//                            StoreConformanceTest::EngineName);
//
// so that a client cannot tell engines apart by anything the Store
// interface promises.
#ifndef ETAGD_TESTS_SERVICE_STORE_CONFORMANCE_H_
#define ETAGD_TESTS_SERVICE_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/store/store.h"

namespace etagd {

// What a test may vary about the store it opens.
struct ConformanceOptions {
  int history_depth = 10;
  std::function<absl::Time()> clock = absl::Now;
};

// One test's data in one engine. Created per test.
class EngineUnderTest {
 public:
  virtual ~EngineUnderTest() = default;
  // Opens a store over the test's data (empty in a new test). The test
  // closes the store it had before opening the next (a restart).
  virtual absl::StatusOr<std::unique_ptr<Store>> Open(
      const ConformanceOptions& options) = 0;
  // Whether Open() may be called again while a store it returned is still
  // open, as replicas of a shared engine are.
  virtual bool SupportsReplicas() const = 0;
};

struct EngineFactory {
  std::string name;
  std::function<std::unique_ptr<EngineUnderTest>()> make;
};

class StoreConformanceTest : public testing::TestWithParam<EngineFactory> {
 public:
  static std::string EngineName(
      const testing::TestParamInfo<EngineFactory>& info) {
    return info.param.name;
  }

 protected:
  void SetUp() override;
  void TearDown() override;

  // Closes the store and opens it again with options_.
  void Reopen();

  // Writes expecting the current revision (read first); fails the test if
  // the write fails.
  Record Put(const std::string& name, const std::string& content,
             const std::string& request_id = "");
  Record Delete(const std::string& name, const std::string& request_id = "");
  // The current record; fails the test if there is none.
  Record Current(const std::string& name, bool with_content = true);

  ConformanceOptions options_;
  std::unique_ptr<EngineUnderTest> engine_;
  std::unique_ptr<Store> store_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_SERVICE_STORE_CONFORMANCE_H_
