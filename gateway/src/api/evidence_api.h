#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "net/http_types.h"

namespace vigil::auth {
struct Identity;
}
namespace vigil::record {
class Recorder;
}

namespace vigil::api {

// GET /api/evidence?from=&to=&<session filters> (auditors and admins; docs/evidence.md):
// the evidence bundle as a ZIP, the same bundle `vigil export` writes. The export is itself
// recorded (who, which range and filters) and signed into the chain before the bundle is
// made, so the bundle's chain reaches it.
class EvidenceApi {
public:
    EvidenceApi(std::filesystem::path database, std::shared_ptr<record::Recorder> recorder);
    net::LocalResponse handle(const net::RequestView& request, std::string_view requestId, const auth::Identity& who);

private:
    std::filesystem::path database_;
    std::shared_ptr<record::Recorder> recorder_;
};

}  // namespace vigil::api
