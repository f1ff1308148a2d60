// The edge's range checks (request_checks.h), generated from the descriptors: every
// Timestamp, floating-point, integer and enum field of every request of every herald.v1 RPC
// is tried with hostile values (refused, naming the field) and with a sane one (accepted).
// SEC-10, SEC-11.
#include "common/grpc/request_checks.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"

namespace herald {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// A field reachable from a request, as the path the error names and the chain to set it.
struct Leaf {
  std::string path;
  std::vector<const FieldDescriptor*> chain;
};

void Collect(const Descriptor* d, const std::string& prefix,
             const std::vector<const FieldDescriptor*>& chain, std::vector<Leaf>& out, int depth) {
  if (depth > 4) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_map()) continue;
    auto c = chain;
    c.push_back(f);
    std::string path = prefix + f->name() + (f->is_repeated() ? "[0]" : "");
    bool timestamp =
        f->message_type() && f->message_type()->full_name() == "google.protobuf.Timestamp";
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !timestamp) {
      Collect(f->message_type(), path + ".", c, out, depth + 1);
    } else {
      out.push_back({path, c});
    }
  }
}

std::vector<const Descriptor*> RequestTypes() {
  std::vector<const Descriptor*> out;
  for (const auto* file :
       {v1::UpsertSubjectRequest::descriptor()->file(), v1::SendRequest::descriptor()->file(),
        v1::BlockSubjectRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        out.push_back(file->service(s)->method(m)->input_type());
      }
    }
  }
  return out;
}

// The message holding the leaf field, created along the chain.
Message* Holder(Message& root, const Leaf& leaf) {
  Message* m = &root;
  for (size_t i = 0; i + 1 < leaf.chain.size(); ++i) {
    const auto* f = leaf.chain[i];
    m = f->is_repeated() ? m->GetReflection()->AddMessage(m, f)
                         : m->GetReflection()->MutableMessage(m, f);
  }
  return m;
}

std::string Refusal(const Message& m) {
  try {
    CheckRequestFields(m);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "";
}

template <typename SetFn>
std::unique_ptr<Message> Build(const Descriptor* type, const Leaf& leaf, SetFn set) {
  std::unique_ptr<Message> m(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  set(Holder(*m, leaf), leaf.chain.back());
  return m;
}

TEST(RequestChecks, EveryTimestampFieldOfEveryRequestIsRangeChecked) {  // SEC-11
  int fields = 0;
  for (const auto* type : RequestTypes()) {
    std::vector<Leaf> leaves;
    Collect(type, "", {}, leaves, 0);
    for (const auto& leaf : leaves) {
      const auto* f = leaf.chain.back();
      if (!f->message_type() || f->message_type()->full_name() != "google.protobuf.Timestamp") {
        continue;
      }
      ++fields;
      SCOPED_TRACE(type->full_name() + " " + leaf.path);
      auto set_time = [](int64_t seconds, int32_t nanos) {
        return [=](Message* holder, const FieldDescriptor* fd) {
          Message* ts = fd->is_repeated() ? holder->GetReflection()->AddMessage(holder, fd)
                                          : holder->GetReflection()->MutableMessage(holder, fd);
          const auto* td = ts->GetDescriptor();
          ts->GetReflection()->SetInt64(ts, td->FindFieldByName("seconds"), seconds);
          ts->GetReflection()->SetInt32(ts, td->FindFieldByName("nanos"), nanos);
        };
      };
      for (auto [s, n] :
           std::vector<std::pair<int64_t, int32_t>>{{std::numeric_limits<int64_t>::max(), 0},
                                                    {std::numeric_limits<int64_t>::min(), 0},
                                                    {253402300800LL, 0},
                                                    {-1, 0},
                                                    {1700000000, -1},
                                                    {1700000000, 1000000000}}) {
        auto m = Build(type, leaf, set_time(s, n));
        EXPECT_EQ(Refusal(*m).rfind(leaf.path + ": not a valid time", 0), 0u)
            << s << "/" << n << ": " << Refusal(*m);
      }
      // Positive control: a real time, and the last second of 9999.
      EXPECT_EQ(Refusal(*Build(type, leaf, set_time(1764892800, 5))), "");
      EXPECT_EQ(Refusal(*Build(type, leaf, set_time(253402300799LL, 999999999))), "");
    }
  }
  // CreateCampaign.start_time, OpenPrivacyRequest.received_time, the proofs' occurred_at,
  // ListDestructionRecords.since/until at least.
  EXPECT_GE(fields, 7);
}

TEST(RequestChecks, EveryFloatingPointFieldRefusesNonFiniteValues) {  // SEC-10
  int fields = 0;
  for (const auto* type : RequestTypes()) {
    std::vector<Leaf> leaves;
    Collect(type, "", {}, leaves, 0);
    for (const auto& leaf : leaves) {
      const auto* f = leaf.chain.back();
      bool is_double = f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE;
      if (!is_double && f->cpp_type() != FieldDescriptor::CPPTYPE_FLOAT) continue;
      ++fields;
      SCOPED_TRACE(type->full_name() + " " + leaf.path);
      auto set = [is_double](double v) {
        return [=](Message* holder, const FieldDescriptor* fd) {
          auto* r = holder->GetReflection();
          if (is_double) {
            fd->is_repeated() ? r->AddDouble(holder, fd, v) : r->SetDouble(holder, fd, v);
          } else {
            fd->is_repeated() ? r->AddFloat(holder, fd, static_cast<float>(v))
                              : r->SetFloat(holder, fd, static_cast<float>(v));
          }
        };
      };
      for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity()}) {
        EXPECT_EQ(Refusal(*Build(type, leaf, set(bad))), leaf.path + ": not a finite number");
      }
      EXPECT_EQ(Refusal(*Build(type, leaf, set(12.5))), "");  // positive control
    }
  }
  EXPECT_GE(fields, 1);  // CreateCampaign.rate_per_second
}

TEST(RequestChecks, IntegersAreNotNegativeAndEnumsAreKnown) {  // SEC-10
  int ints = 0, enums = 0;
  for (const auto* type : RequestTypes()) {
    std::vector<Leaf> leaves;
    Collect(type, "", {}, leaves, 0);
    for (const auto& leaf : leaves) {
      const auto* f = leaf.chain.back();
      SCOPED_TRACE(type->full_name() + " " + leaf.path);
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
          f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
        ++ints;
        auto set = [](int64_t v) {
          return [=](Message* h, const FieldDescriptor* fd) {
            auto* r = h->GetReflection();
            if (fd->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
              fd->is_repeated() ? r->AddInt32(h, fd, static_cast<int32_t>(v))
                                : r->SetInt32(h, fd, static_cast<int32_t>(v));
            } else {
              fd->is_repeated() ? r->AddInt64(h, fd, v) : r->SetInt64(h, fd, v);
            }
          };
        };
        EXPECT_EQ(Refusal(*Build(type, leaf, set(-1))), leaf.path + ": must not be negative");
        EXPECT_EQ(Refusal(*Build(type, leaf, set(std::numeric_limits<int32_t>::min()))),
                  leaf.path + ": must not be negative");
        EXPECT_EQ(Refusal(*Build(type, leaf, set(50))), "");
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
        ++enums;
        auto set = [](int v) {
          return [=](Message* h, const FieldDescriptor* fd) {
            fd->is_repeated() ? h->GetReflection()->AddEnumValue(h, fd, v)
                              : h->GetReflection()->SetEnumValue(h, fd, v);
          };
        };
        EXPECT_EQ(Refusal(*Build(type, leaf, set(9999))), leaf.path + ": unknown value");
        EXPECT_EQ(Refusal(*Build(type, leaf, set(-5))), leaf.path + ": unknown value");
        EXPECT_EQ(Refusal(*Build(type, leaf, set(1))), "");
      }
    }
  }
  EXPECT_GE(ints, 5);  // the page sizes
  EXPECT_GE(enums, 10);
}

TEST(RequestChecks, CreateCampaignRatePerSecondNaNIsRefusedByName) {  // SEC-10
  v1::CreateCampaignRequest r;
  r.set_rate_per_second(std::nan(""));
  EXPECT_EQ(Refusal(r), "rate_per_second: not a finite number");
  r.set_rate_per_second(20);
  EXPECT_EQ(Refusal(r), "");
}

}  // namespace
}  // namespace herald
