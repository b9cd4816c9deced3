#pragma once

#include "chain/filter.h"
#include "config/gateway_config.h"

namespace vigil::inspect {

// The inspect stage: reads the request facts (model, messages, tools, token and cost
// estimates) that the decide stage works on, and refuses bodies that are not JSON or not
// of the shape their API expects (400 invalid_json / invalid_request naming the field).
class InspectFilter final : public chain::RequestFilter {
public:
    explicit InspectFilter(const config::GatewayConfig& config) : config_(config) {}
    std::string_view name() const override { return "inspect"; }
    chain::FilterStatus onRequest(chain::RequestContext& context) const override;

private:
    const config::GatewayConfig& config_;
};

}  // namespace vigil::inspect
