#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/grpc/rpc_runner.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace google::protobuf {
class DescriptorPool;
}

namespace herald {

// grpc.reflection.v1alpha.ServerReflection over the generated descriptor pool, behind the
// same key check as every RPC (any valid key: the schema, never data). Debian's 1.51 plugin
// registers its own unauthenticated service, so heraldd serves the protocol itself; the
// configuration (grpc.reflection) leaves it out altogether.
class ReflectionService final : public grpc::reflection::v1alpha::ServerReflection::Service {
 public:
  using Request = grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = grpc::reflection::v1alpha::ServerReflectionResponse;

  // `services`: the full names the server registers, as list_services answers them.
  ReflectionService(RpcRunner& runner, std::vector<std::string> services);

  grpc::Status ServerReflectionInfo(grpc::ServerContext* ctx,
                                    grpc::ServerReaderWriter<Response, Request>* stream) override;

  // The answer to one request. `sent` holds the files this stream already received; they
  // are not sent again (the protocol allows it and clients cache them).
  Response Answer(const Request& request, std::set<std::string>& sent) const;

 private:
  RpcRunner& runner_;
  std::vector<std::string> services_;
  const google::protobuf::DescriptorPool* pool_;
};

}  // namespace herald
