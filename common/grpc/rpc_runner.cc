#include "common/grpc/rpc_runner.h"

#include <openssl/rand.h>

#include <pqxx/pqxx>
#include <utility>

#include "common/crypto/hash.h"
#include "common/error.h"
#include "common/grpc/request_id.h"
#include "common/log/log.h"

namespace herald {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

grpc::StatusCode RpcRunner::ToGrpcCode(int herald_error_code) {
  switch (static_cast<ErrorCode>(herald_error_code)) {
    case ErrorCode::kInvalidArgument:
      return grpc::INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return grpc::NOT_FOUND;
    case ErrorCode::kAlreadyExists:
      return grpc::ALREADY_EXISTS;
    case ErrorCode::kFailedPrecondition:
      return grpc::FAILED_PRECONDITION;
    case ErrorCode::kPermissionDenied:
      return grpc::PERMISSION_DENIED;
    case ErrorCode::kUnauthenticated:
      return grpc::UNAUTHENTICATED;
    case ErrorCode::kResourceExhausted:
      return grpc::RESOURCE_EXHAUSTED;
    case ErrorCode::kUnavailable:
      return grpc::UNAVAILABLE;
    case ErrorCode::kInternal:
      return grpc::INTERNAL;
  }
  return grpc::INTERNAL;
}

std::string RpcRunner::RequestId(grpc::ServerContextBase* ctx) {
  auto it = ctx->client_metadata().find("x-request-id");
  if (it != ctx->client_metadata().end()) {
    std::string_view given(it->second.data(), it->second.size());
    if (ValidRequestId(given)) {
      ctx->AddInitialMetadata("x-request-id", std::string(given));
      return std::string(given);
    }
  }
  std::string id = NewRequestId();
  ctx->AddInitialMetadata("x-request-id", id);
  return id;
}

std::string RpcRunner::NewRequestId() {
  unsigned char buf[8];
  RAND_bytes(buf, sizeof buf);
  return crypto::ToHex(std::string_view(reinterpret_cast<char*>(buf), sizeof buf));
}

grpc::Status RpcRunner::Authorize(grpc::ServerContextBase* ctx, const RpcRule* rule,
                                  Caller& caller) {
  // Fail closed: a method without a row in the access table is nobody's to call.
  if (!rule) return grpc::Status(grpc::PERMISSION_DENIED, "this method has no access rule");
  auto it = ctx->client_metadata().find("authorization");
  if (it == ctx->client_metadata().end()) {
    return grpc::Status(grpc::UNAUTHENTICATED, "authorization: a bearer API key is required");
  }
  const ApiClient* client =
      auth_.Authenticate(std::string_view(it->second.data(), it->second.size()));
  if (!client) return grpc::Status(grpc::UNAUTHENTICATED, "authorization: unknown API key");
  caller.client_id = client->id;
  caller.privacy_scope = ApiKeyAuthenticator::Allows(*client, {Scope::kPrivacy});
  for (Scope s : client->scopes) {
    caller.reads_subjects = caller.reads_subjects || ScopeReadsSubjects(s);
  }
  if (!RuleAllows(*rule, client->scopes)) {
    std::string need;
    for (Scope s : rule->scopes) need += std::string(need.empty() ? "" : " or ") + ScopeName(s);
    return grpc::Status(grpc::PERMISSION_DENIED, "this method needs the " + need + " scope");
  }
  return grpc::Status::OK;
}

void RpcRunner::Redact(const RpcRule& rule, const Caller& caller,
                       google::protobuf::Message& response) {
  if (!rule.carries_personal_data()) return;
  if (!caller.reads_subjects) {
    RedactPersonalFields(rule, response, /*all=*/true);
  } else if (rule.blocked == BlockedSubject::kRedacted && !caller.privacy_scope) {
    RedactPersonalFields(rule, response, /*all=*/false);
  }
}

grpc::Status RpcRunner::MapException(std::exception_ptr e, const char* method,
                                     const Caller& caller) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const Error& err) {
    return grpc::Status(ToGrpcCode(static_cast<int>(err.code())), err.what());
  } catch (const pqxx::broken_connection&) {
    return grpc::Status(grpc::UNAVAILABLE, "database unavailable");
  } catch (const pqxx::in_doubt_error&) {
    // The connection broke during COMMIT: the change may or may not have been made. Every
    // writing call is idempotent by its key, so repeating it is safe and settles which.
    return grpc::Status(grpc::UNAVAILABLE,
                        "database connection lost while committing: retry with the same "
                        "idempotency key");
  } catch (const pqxx::sql_error& err) {
    // The server's message may quote values: log only the SQLSTATE.
    log::Error(
        "database error",
        {{"method", method}, {"request_id", caller.request_id}, {"sqlstate", err.sqlstate()}});
    const std::string& state = err.sqlstate();
    if (state == "40001" || state == "40P01") {
      return grpc::Status(grpc::ABORTED, "concurrent update, retry");
    }
    // The transaction was rolled back: nothing was changed, and the call may be repeated.
    if (state.rfind("53", 0) == 0) {
      return grpc::Status(grpc::UNAVAILABLE,
                          "database out of resources (disk full or out of memory): nothing was "
                          "changed, retry later");
    }
    if (state.rfind("57", 0) == 0 || state.rfind("08", 0) == 0) {
      return grpc::Status(grpc::UNAVAILABLE,
                          "database restarting or unreachable: nothing was changed, retry later");
    }
    return grpc::Status(grpc::INTERNAL, "internal error");
  } catch (const std::exception& err) {
    log::Error(
        "unhandled error",
        {{"method", method}, {"request_id", caller.request_id}, {"type", typeid(err).name()}});
    return grpc::Status(grpc::INTERNAL, "internal error");
  } catch (...) {
    // Anything else (a thrown int, a foreign library's own type) would otherwise leave the
    // handler thread through the gRPC library and terminate the whole server.
    log::Error(
        "unhandled error",
        {{"method", method}, {"request_id", caller.request_id}, {"type", "not a std::exception"}});
    return grpc::Status(grpc::INTERNAL, "internal error");
  }
}

void RpcRunner::FinishAsync(AsyncCall& call, const std::exception_ptr& error) {
  grpc::Status status;
  if (error) {
    status = MapException(error, call.method, call.caller);
  } else {
    try {
      if (call.response) Redact(*call.rule, call.caller, *call.response);
    } catch (...) {
      status = MapException(std::current_exception(), call.method, call.caller);
    }
  }
  Finish(call.method, call.caller, status, std::chrono::steady_clock::now() - call.start);
  call.reactor->Finish(status);
}

void RpcRunner::Finish(const char* method, const Caller& caller, const grpc::Status& status,
                       std::chrono::nanoseconds latency) {
  const char* code = StatusCodeName(status.error_code());
  metrics_.ObserveRpc(method, code, latency);
  log::Info("rpc", {{"method", method},
                    {"request_id", caller.request_id},
                    {"client", caller.client_id},
                    {"status", code},
                    {"latency_ms", std::chrono::duration<double, std::milli>(latency).count()}});
}

void RpcRunner::RecordRejected(const char* method, const grpc::Status& status,
                               std::chrono::nanoseconds latency, const std::string& request_id) {
  Caller caller;
  caller.request_id = request_id.empty() ? NewRequestId() : request_id;
  Finish(method, caller, status, latency);
}

}  // namespace herald
