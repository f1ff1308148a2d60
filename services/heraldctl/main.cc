// heraldctl: the operator's command-line client of heraldd's gRPC services.
//
//   heraldctl [global flags] <command> [flags]
//
// The commands of each service are in their own file; command.h is the model they share
// (flags, help, deadline, output and exit statuses).
#include <string>
#include <vector>

#include "services/heraldctl/campaign_commands.h"
#include "services/heraldctl/command.h"
#include "services/heraldctl/crm_commands.h"
#include "services/heraldctl/dispatch_commands.h"
#include "services/heraldctl/health_command.h"
#include "services/heraldctl/inbound_mail_command.h"
#include "services/heraldctl/privacy_commands.h"
#include "services/heraldctl/subscription_commands.h"
#include "services/heraldctl/suppression_commands.h"

int main(int argc, char** argv) {
  using namespace herald::ctl;
  std::vector<Command> commands = {HealthCommand()};
  for (auto& c : SubscriptionCommands()) commands.push_back(std::move(c));
  for (auto& c : DispatchCommands()) commands.push_back(std::move(c));
  commands.push_back(CampaignCommand());
  commands.push_back(PrivacyCommand());
  commands.push_back(CrmCommand());
  commands.push_back(InboundMailCommand());
  commands.push_back(SuppressionsCommand());
  return RunCommandLine(std::vector<std::string>(argv + 1, argv + argc), commands);
}
