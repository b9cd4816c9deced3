#include "inspect/inspect_filter.h"

#include "inspect/request_facts.h"

namespace vigil::inspect {

chain::FilterStatus InspectFilter::onRequest(chain::RequestContext& context) const {
    // The upstream sees /v1/...: the facts are read from the same path, whatever prefix
    // (/<connection>) the caller used.
    std::string_view path = context.upstreamTarget;
    path = path.substr(0, path.find('?'));
    const auto& prefix = config_.connections[*context.connection].baseUrl.pathPrefix;
    if (path.starts_with(prefix)) path.remove_prefix(prefix.size());
    auto facts = std::make_shared<RequestFacts>();
    std::string api = apiPath(path);
    if (auto error = inspectRequest(context.request->method, api, context.request->body, config_.prices, *facts)) {
        context.localReply = chain::LocalReply{error->code, std::move(error->message)};
        return chain::FilterStatus::LocalReply;
    }
    context.facts = std::move(facts);
    context.apiPath = std::move(api);
    return chain::FilterStatus::Continue;
}

}  // namespace vigil::inspect
