// etagd as a reflection client (grpcurl, Postman, Evans) sees it: every
// service that server reflection lists can be resolved to its file and every
// file that file imports, and its unary methods can be called from those
// descriptors alone: messages built by a DynamicMessageFactory, calls made
// by a generic stub, with no generated code of the API on the client side.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace reflection = ::grpc::reflection::v1alpha;
namespace pb = ::google::protobuf;
using ::testing::IsSupersetOf;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kTimeout);
}

// A reflection client over one ServerReflectionInfo stream. It knows only
// what the server tells it: the files it resolves go into its own database.
class ReflectionClient {
 public:
  explicit ReflectionClient(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(reflection::ServerReflection::NewStub(channel)) {
    context_.set_deadline(Deadline());
    stream_ = stub_->ServerReflectionInfo(&context_);
  }

  ~ReflectionClient() {
    stream_->WritesDone();
    grpc::Status ignored = stream_->Finish();  // Only the answers matter.
    (void)ignored;
  }

  absl::StatusOr<std::vector<std::string>> ListServices() {
    reflection::ServerReflectionRequest request;
    request.set_list_services("");
    absl::StatusOr<reflection::ServerReflectionResponse> response = Ask(request);
    if (!response.ok()) return response.status();
    std::vector<std::string> names;
    for (const auto& service : response->list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  // Fetches the file that defines `symbol` and, by name, every file it
  // imports that the server did not send along, then looks the service up
  // in a pool built from those files alone.
  absl::StatusOr<const pb::ServiceDescriptor*> ResolveService(
      const std::string& symbol) {
    reflection::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    if (absl::Status added = AddFiles(request); !added.ok()) return added;
    while (true) {
      std::string missing;
      for (const std::string& file : files_) {
        pb::FileDescriptorProto proto;
        database_.FindFileByName(file, &proto);
        for (const std::string& dependency : proto.dependency()) {
          if (files_.count(dependency) == 0) missing = dependency;
        }
      }
      if (missing.empty()) break;
      reflection::ServerReflectionRequest by_name;
      by_name.set_file_by_filename(missing);
      if (absl::Status added = AddFiles(by_name); !added.ok()) return added;
    }
    const pb::ServiceDescriptor* service = pool_.FindServiceByName(symbol);
    if (service == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          symbol, " is not in the files reflection returned for it"));
    }
    return service;
  }

 private:
  absl::StatusOr<reflection::ServerReflectionResponse> Ask(
      const reflection::ServerReflectionRequest& request) {
    reflection::ServerReflectionResponse response;
    if (!stream_->Write(request) || !stream_->Read(&response)) {
      return absl::UnavailableError("the reflection stream broke");
    }
    if (response.has_error_response()) {
      return absl::NotFoundError(absl::StrCat(
          "reflection answered error ", response.error_response().error_code(),
          ": ", response.error_response().error_message()));
    }
    return response;
  }

  absl::Status AddFiles(const reflection::ServerReflectionRequest& request) {
    absl::StatusOr<reflection::ServerReflectionResponse> response = Ask(request);
    if (!response.ok()) return response.status();
    for (const std::string& bytes :
         response->file_descriptor_response().file_descriptor_proto()) {
      pb::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        return absl::DataLossError("a file descriptor does not parse");
      }
      if (files_.insert(file.name()).second) database_.Add(file);
    }
    return absl::OkStatus();
  }

  std::unique_ptr<reflection::ServerReflection::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                                           reflection::ServerReflectionResponse>>
      stream_;
  std::set<std::string> files_;
  pb::SimpleDescriptorDatabase database_;
  pb::DescriptorPool pool_{&database_};
};

// Calls a unary method with a request built from its descriptor; the
// response is parsed into a message of the method's output type.
struct DynamicCall {
  grpc::Status status;
  std::unique_ptr<pb::Message> response;
};

DynamicCall CallUnary(grpc::GenericStub& stub, pb::DynamicMessageFactory& factory,
                      const pb::MethodDescriptor& method,
                      const pb::Message& request) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::string bytes;
  request.SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_bytes(&slice, 1);
  grpc::ByteBuffer response_bytes;
  absl::Notification done;
  DynamicCall call;
  stub.UnaryCall(&context,
                 absl::StrCat("/", method.service()->full_name(), "/",
                              method.name()),
                 grpc::StubOptions(), &request_bytes, &response_bytes,
                 [&](grpc::Status s) {
                   call.status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (call.status.ok()) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (response_bytes.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        out.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    call.response.reset(factory.GetPrototype(method.output_type())->New());
    if (!call.response->ParseFromString(out)) call.response.reset();
  }
  return call;
}

class ReflectionTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<EtagdProcess> etagd =
        StartEtagd(TestPath("data"), {"--http_listen="});
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    channel_ = grpc::CreateChannel(etagd_.target(),
                                   grpc::InsecureChannelCredentials());
  }

  EtagdProcess etagd_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ReflectionTest, ListsTheApiHealthAndReflection) {
  ReflectionClient client(channel_);
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_THAT(services, IsOk());
  EXPECT_THAT(*services,
              IsSupersetOf({"etagd.v1.Resources", "etagd.v1.Admin",
                            "grpc.health.v1.Health",
                            "grpc.reflection.v1alpha.ServerReflection"}));
}

TEST_F(ReflectionTest, EveryListedServiceIsFullyDescribable) {
  ReflectionClient client(channel_);
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_THAT(services, IsOk());
  for (const std::string& name : *services) {
    absl::StatusOr<const pb::ServiceDescriptor*> service =
        client.ResolveService(name);
    ASSERT_THAT(service, IsOk()) << name;
    EXPECT_GT((*service)->method_count(), 0) << name;
  }
}

TEST_F(ReflectionTest, EveryUnaryMethodCanBeCalledFromReflectedDescriptors) {
  ReflectionClient client(channel_);
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_THAT(services, IsOk());
  grpc::GenericStub stub(channel_);
  pb::DynamicMessageFactory factory;
  int called = 0;
  for (const std::string& name : *services) {
    absl::StatusOr<const pb::ServiceDescriptor*> service =
        client.ResolveService(name);
    ASSERT_THAT(service, IsOk()) << name;
    for (int m = 0; m < (*service)->method_count(); ++m) {
      const pb::MethodDescriptor& method = *(*service)->method(m);
      if (method.client_streaming() || method.server_streaming()) continue;
      std::unique_ptr<pb::Message> request(
          factory.GetPrototype(method.input_type())->New());
      DynamicCall call = CallUnary(stub, factory, method, *request);
      // An empty request may be refused (an empty name), but the method
      // exists and understood it.
      EXPECT_NE(call.status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
          << method.full_name() << ": " << call.status.error_message();
      if (call.status.ok()) {
        EXPECT_NE(call.response, nullptr) << method.full_name();
      }
      ++called;
    }
  }
  EXPECT_GE(called, 7);  // Resources 5, Admin 1, Health.Check.
}

TEST_F(ReflectionTest, HealthCheckFromReflectedDescriptorsAnswersServing) {
  ReflectionClient client(channel_);
  absl::StatusOr<const pb::ServiceDescriptor*> health =
      client.ResolveService("grpc.health.v1.Health");
  ASSERT_THAT(health, IsOk());
  const pb::MethodDescriptor* check = (*health)->FindMethodByName("Check");
  ASSERT_NE(check, nullptr);
  pb::DynamicMessageFactory factory;
  std::unique_ptr<pb::Message> request(
      factory.GetPrototype(check->input_type())->New());
  request->GetReflection()->SetString(
      request.get(), check->input_type()->FindFieldByName("service"),
      "etagd.v1.Resources");
  grpc::GenericStub stub(channel_);
  DynamicCall call = CallUnary(stub, factory, *check, *request);
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  ASSERT_NE(call.response, nullptr);
  const pb::FieldDescriptor* status =
      check->output_type()->FindFieldByName("status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(call.response->GetReflection()->GetEnum(*call.response, status)->name(),
            "SERVING");
}

}  // namespace
}  // namespace etagd
