#pragma once

#include <filesystem>
#include <functional>
#include <atomic>
#include <memory>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "net/http_types.h"
#include "store/evidence_export.h"

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
class EvidenceApi : public std::enable_shared_from_this<EvidenceApi> {
public:
    EvidenceApi(std::filesystem::path database, std::shared_ptr<record::Recorder> recorder);

    // The request checked at once: either the answer (a bad request), or the work that makes
    // the bundle, to run off the I/O thread (it commits, reads the store and zips).
    struct Prepared {
        std::optional<net::LocalResponse> answer;
        // Stops early, with no bundle, once `cancelled` is true (the client has gone).
        std::function<net::LocalResponse(const std::atomic<bool>& cancelled)> work;
        static Prepared refused(net::LocalResponse r) { return {std::move(r), {}}; }
    };
    Prepared prepare(const net::RequestView& request, std::string_view requestId, const auth::Identity& who);

private:
    net::LocalResponse run(store::EvidenceRequest ask, const nlohmann::json& filters, const std::string& requestId,
                           const std::string& subject, const std::string& method, std::int64_t from, std::int64_t to,
                           const std::atomic<bool>& cancelled, std::shared_ptr<void> slot);

    std::filesystem::path database_;
    std::shared_ptr<record::Recorder> recorder_;
    // Exports being made or sent now: each reads the store and writes its bundle twice to the
    // temporary directory (the files, then the ZIP, which is on disk until it has been sent),
    // so at most kMaxRunning at once (beyond, 429 with Retry-After), lest exports take the
    // disk and CPU of the data path.
    static constexpr int kMaxRunning = 2;
    std::shared_ptr<std::atomic<int>> running_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace vigil::api
