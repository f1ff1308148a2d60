#include "common/grpc/reflection_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

namespace herald {
namespace {

using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using Response = ReflectionService::Response;

void SetError(Response& resp, grpc::StatusCode code, const std::string& message) {
  resp.mutable_error_response()->set_error_code(static_cast<int32_t>(code));
  resp.mutable_error_response()->set_error_message(message);
}

// The file first, then every file it depends on (depth first), each once per stream.
void AddFile(const FileDescriptor* file, std::set<std::string>& sent, Response& resp, bool first) {
  if (!first && !sent.insert(file->name()).second) return;
  if (first) sent.insert(file->name());
  FileDescriptorProto proto;
  file->CopyTo(&proto);
  resp.mutable_file_descriptor_response()->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFile(file->dependency(i), sent, resp, false);
  }
}

}  // namespace

ReflectionService::ReflectionService(RpcRunner& runner, std::vector<std::string> services)
    : runner_(runner),
      services_(std::move(services)),
      pool_(google::protobuf::DescriptorPool::generated_pool()) {}

grpc::Status ReflectionService::ServerReflectionInfo(
    grpc::ServerContext* ctx, grpc::ServerReaderWriter<Response, Request>* stream) {
  return runner_.Run(ctx, "ServerReflectionInfo", nullptr, nullptr, [&](const Caller&) {
    std::set<std::string> sent;
    Request request;
    while (stream->Read(&request)) {
      if (!stream->Write(Answer(request, sent))) break;
    }
  });
}

Response ReflectionService::Answer(const Request& request, std::set<std::string>& sent) const {
  Response resp;
  resp.set_valid_host(request.host());
  *resp.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case Request::kListServices:
      for (const auto& name : services_) {
        resp.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case Request::kFileByFilename: {
      const auto* file = pool_->FindFileByName(request.file_by_filename());
      if (!file) {
        SetError(resp, grpc::NOT_FOUND, "file not found");
      } else {
        AddFile(file, sent, resp, true);
      }
      break;
    }
    case Request::kFileContainingSymbol: {
      const auto* file = pool_->FindFileContainingSymbol(request.file_containing_symbol());
      if (!file) {
        SetError(resp, grpc::NOT_FOUND, "symbol not found");
      } else {
        AddFile(file, sent, resp, true);
      }
      break;
    }
    case Request::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const auto* type = pool_->FindMessageTypeByName(ext.containing_type());
      const auto* field =
          type ? pool_->FindExtensionByNumber(type, ext.extension_number()) : nullptr;
      if (!field) {
        SetError(resp, grpc::NOT_FOUND, "extension not found");
      } else {
        AddFile(field->file(), sent, resp, true);
      }
      break;
    }
    case Request::kAllExtensionNumbersOfType: {
      const auto* type = pool_->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (!type) {
        SetError(resp, grpc::NOT_FOUND, "type not found");
      } else {
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool_->FindAllExtensions(type, &extensions);
        auto* out = resp.mutable_all_extension_numbers_response();
        out->set_base_type_name(type->full_name());
        for (const auto* f : extensions) out->add_extension_number(f->number());
      }
      break;
    }
    case Request::MESSAGE_REQUEST_NOT_SET:
      SetError(resp, grpc::INVALID_ARGUMENT, "message_request: required");
      break;
  }
  return resp;
}

}  // namespace herald
