#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "auth/identity.h"
#include "store/sqlite_store.h"
#include "vigil/details_code.h"

namespace vigil::auth {

// Vigil API keys look like vgl_<key id>_<secret>: the key id finds the record, the secret
// is checked against its SHA-256 (the store never holds the key itself).
inline constexpr std::string_view kApiKeyPrefix = "vgl_";

struct NewApiKey {
    std::string key;  // shown once, never stored
    store::ApiKeyRecord record;
};

NewApiKey generateApiKey(const std::string& name, const std::vector<std::string>& roles,
                         std::optional<std::int64_t> expiresAt, std::int64_t now);

struct ApiKeyParts {
    std::string_view keyId;
    std::string_view secret;
};
std::optional<ApiKeyParts> parseApiKey(std::string_view key);

// The gateway's view of the API keys: an in-memory snapshot of the store, reloaded when
// the store changes (a `keys revoke` takes effect within a second), with last-used times
// written back in batches instead of a write per request.
class ApiKeyRegistry {
public:
    explicit ApiKeyRegistry(const std::filesystem::path& storePath);  // throws StoreError
    ~ApiKeyRegistry();
    ApiKeyRegistry(const ApiKeyRegistry&) = delete;
    ApiKeyRegistry& operator=(const ApiKeyRegistry&) = delete;

    struct Check {
        std::shared_ptr<const Identity> identity;
        std::optional<DetailsCode> error;
        std::string message;
    };
    Check verify(std::string_view key, std::int64_t now) const;

private:
    struct Entry {
        store::ApiKeyRecord record;
        std::shared_ptr<const Identity> identity;
        std::shared_ptr<std::atomic<std::int64_t>> lastUsed;
        std::int64_t flushed = 0;
    };
    using Map = std::unordered_map<std::string, std::shared_ptr<Entry>>;  // by key id

    void reload();
    void flushLastUsed();
    void run();

    store::SqliteStore store_;  // used by the maintenance thread only (and the constructor)
    mutable std::mutex mutex_;
    std::shared_ptr<const Map> keys_;
    std::int64_t dataVersion_ = -1;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace vigil::auth
