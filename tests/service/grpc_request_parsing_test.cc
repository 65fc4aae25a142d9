// Request bytes that do not parse as the method's message, sent to a real
// etagd: every method of every etagd service answers INVALID_ARGUMENT with a
// message naming the message type (service/grpc_raw_call.h), and a flood of
// them does not become a flood of log lines (service/protobuf_log.h).
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_grpc_call.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// Not a protobuf message: a field key whose varint never ends.
constexpr char kGarbage[] = "\xff\xff\xff\xff\xff\xff";
// Field 1 (a string in every request that has a name) holding bytes that
// are not UTF-8: wire-valid, but proto3 strings must be UTF-8.
constexpr char kNameNotUtf8[] = "\x0a\x02\xff\xfe";

// "/etagd.v1.Resources/GetResource" and the rest: every method etagd serves
// of its own services, from the API's descriptors.
std::vector<const google::protobuf::MethodDescriptor*> EveryEtagdMethod() {
  const google::protobuf::FileDescriptor* file =
      etagd::v1::GetResourceRequest::descriptor()->file();
  std::vector<const google::protobuf::MethodDescriptor*> methods;
  for (int s = 0; s < file->service_count(); ++s) {
    for (int m = 0; m < file->service(s)->method_count(); ++m) {
      methods.push_back(file->service(s)->method(m));
    }
  }
  return methods;
}

std::string PathOf(const google::protobuf::MethodDescriptor* method) {
  return absl::StrCat("/", method->service()->full_name(), "/", method->name());
}

class GrpcRequestParsingTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<EtagdProcess> etagd =
        StartEtagd(TestPath("data"), {"--http_listen=",
                                      "--checkpoint_dir=" + TestPath("cp")});
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    channel_ = grpc::CreateChannel(etagd_.target(),
                                   grpc::InsecureChannelCredentials());
  }

  EtagdProcess etagd_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcRequestParsingTest, BytesThatDoNotParseAreInvalidArgumentForEveryMethod) {
  const auto methods = EveryEtagdMethod();
  ASSERT_EQ(methods.size(), 8u);
  for (const google::protobuf::MethodDescriptor* method : methods) {
    // Not served yet (UNIMPLEMENTED): the change-feed work adds it.
    if (method->name() == "Watch") continue;
    grpc::Status status = RawGrpcCall(channel_, PathOf(method), kGarbage, kTimeout);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << PathOf(method) << ": " << status.error_message();
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("not a valid ",
                                       method->input_type()->full_name())))
        << PathOf(method);
  }
}

TEST_F(GrpcRequestParsingTest, AStringFieldThatIsNotUtf8IsInvalidArgument) {
  for (const char* method :
       {"/etagd.v1.Resources/GetResource", "/etagd.v1.Resources/PutResource",
        "/etagd.v1.Resources/DeleteResource",
        "/etagd.v1.Resources/ListResources", "/etagd.v1.Resources/ListVersions",
        "/etagd.v1.Admin/CreateCheckpoint", "/etagd.v1.Admin/ImportVersion"}) {
    grpc::Status status = RawGrpcCall(channel_, method, kNameNotUtf8, kTimeout);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("not UTF-8")) << method;
  }
}

TEST_F(GrpcRequestParsingTest, AFloodOfBadRequestsLogsAtMostOneLine) {
  constexpr int kRequests = 300;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(RawGrpcCall(channel_, "/etagd.v1.Resources/GetResource",
                          kNameNotUtf8, kTimeout)
                  .error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A well-formed call still works after the flood.
  EXPECT_EQ(RawGrpcCall(channel_, "/etagd.v1.Resources/ListResources", "",
                        kTimeout)
                .error_code(),
            grpc::StatusCode::OK);
  // Stop etagd so that all of its stderr has been read.
  ASSERT_THAT(etagd_.process->Signal(SIGTERM), IsOk());
  absl::StatusOr<int> exit_code = etagd_.process->Wait(kTimeout);
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0);
  int protobuf_lines = 0;
  for (absl::string_view line :
       absl::StrSplit(etagd_.process->stderr_text(), '\n')) {
    if (absl::StrContains(line, "protobuf")) ++protobuf_lines;
  }
  EXPECT_LE(protobuf_lines, 1) << etagd_.process->stderr_text();
}

}  // namespace
}  // namespace etagd
