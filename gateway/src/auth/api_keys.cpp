#include "auth/api_keys.h"

#include "crypto/digest.h"

#include <openssl/crypto.h>
#include <algorithm>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>

#include "observe/log.h"
#include "observe/thread_name.h"

namespace vigil::auth {
namespace {

constexpr std::size_t kKeyIdLength = 12;
constexpr std::size_t kSecretLength = 32;  // 62^32: about 190 bits

std::string randomBase62(std::size_t length) {
    static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string out;
    unsigned char buf[64];
    while (out.size() < length) {
        if (RAND_bytes(buf, sizeof buf) != 1) throw store::StoreError("the system random generator failed");
        for (unsigned char b : buf) {
            if (b < 248 && out.size() < length) out += kAlphabet[b % 62];  // no modulo bias
        }
    }
    return out;
}

bool isBase62(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    });
}

}  // namespace

NewApiKey generateApiKey(const std::string& name, const std::vector<std::string>& roles,
                         std::optional<std::int64_t> expiresAt, std::int64_t now) {
    NewApiKey out;
    const std::string keyId = randomBase62(kKeyIdLength);
    const std::string secret = randomBase62(kSecretLength);
    out.key = std::string(kApiKeyPrefix) + keyId + "_" + secret;
    out.record.name = name;
    out.record.keyId = keyId;
    out.record.secretHash = crypto::sha256(secret);
    out.record.roles = roles;
    out.record.createdAt = now;
    out.record.expiresAt = expiresAt;
    return out;
}

std::optional<ApiKeyParts> parseApiKey(std::string_view key) {
    if (!key.starts_with(kApiKeyPrefix)) return std::nullopt;
    key.remove_prefix(kApiKeyPrefix.size());
    if (key.size() != kKeyIdLength + 1 + kSecretLength || key[kKeyIdLength] != '_') return std::nullopt;
    ApiKeyParts parts{key.substr(0, kKeyIdLength), key.substr(kKeyIdLength + 1)};
    if (!isBase62(parts.keyId) || !isBase62(parts.secret)) return std::nullopt;
    return parts;
}

ApiKeyRegistry::ApiKeyRegistry(const std::filesystem::path& storePath) : store_(storePath) {
    reload();
    thread_ = std::thread([this] {
        observe::nameThisThread("vigil-apikeys");
        run();
    });
}

ApiKeyRegistry::~ApiKeyRegistry() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    try {
        flushLastUsed();
    } catch (const std::exception& e) {
        observe::LogLine(observe::LogLevel::Warn, "api key last-used times not saved").str("error", e.what());
    }
}

ApiKeyRegistry::Check ApiKeyRegistry::verify(std::string_view key, std::int64_t now) const {
    Check check;
    check.error = DetailsCode::ApiKeyInvalid;
    const auto parts = parseApiKey(key);
    if (!parts) {
        check.message = "not a valid Vigil API key";
        return check;
    }
    std::shared_ptr<const Map> keys;
    {
        std::lock_guard lock(mutex_);
        keys = keys_;
    }
    const auto it = keys->find(std::string(parts->keyId));
    // The same message for unknown, wrong and revoked keys: the answer must not tell a
    // guesser which key ids exist.
    check.message = "the API key is unknown, revoked or expired";
    if (it == keys->end()) return check;
    const Entry& entry = *it->second;
    const std::string hash = crypto::sha256(parts->secret);
    if (hash.size() != entry.record.secretHash.size() ||
        CRYPTO_memcmp(hash.data(), entry.record.secretHash.data(), hash.size()) != 0) {
        return check;
    }
    if (entry.record.revokedAt || (entry.record.expiresAt && now >= *entry.record.expiresAt)) return check;
    entry.lastUsed->store(now, std::memory_order_relaxed);
    check.error.reset();
    check.message.clear();
    check.identity = entry.identity;
    return check;
}

void ApiKeyRegistry::reload() {
    const auto version = store_.dataVersion();
    if (version == dataVersion_) return;
    std::shared_ptr<const Map> previous;
    {
        std::lock_guard lock(mutex_);
        previous = keys_;
    }
    auto fresh = std::make_shared<Map>();
    for (auto& record : store_.apiKeys()) {
        auto entry = std::make_shared<Entry>();
        auto identity = std::make_shared<Identity>();
        identity->method = Identity::Method::ApiKey;
        identity->issuer = "vigil";
        identity->subject = "apikey:" + record.name;
        identity->roles = record.roles;
        entry->identity = std::move(identity);
        // Keep the last-used counter of a key across reloads.
        if (previous) {
            if (auto old = previous->find(record.keyId); old != previous->end() && old->second->record.name == record.name) {
                entry->lastUsed = old->second->lastUsed;
                entry->flushed = old->second->flushed;
            }
        }
        if (!entry->lastUsed) {
            entry->lastUsed = std::make_shared<std::atomic<std::int64_t>>(record.lastUsedAt.value_or(0));
            entry->flushed = record.lastUsedAt.value_or(0);
        }
        entry->record = std::move(record);
        const std::string keyId = entry->record.keyId;
        fresh->emplace(keyId, std::move(entry));
    }
    dataVersion_ = version;
    std::lock_guard lock(mutex_);
    keys_ = std::move(fresh);
}

void ApiKeyRegistry::flushLastUsed() {
    std::shared_ptr<const Map> keys;
    {
        std::lock_guard lock(mutex_);
        keys = keys_;
    }
    std::vector<std::pair<std::string, std::int64_t>> changed;
    for (const auto& [id, entry] : *keys) {
        const auto used = entry->lastUsed->load(std::memory_order_relaxed);
        if (used > entry->flushed) {
            changed.emplace_back(entry->record.name, used);
            entry->flushed = used;
        }
    }
    store_.touchApiKeys(changed);  // our own writes do not change our data_version
}

void ApiKeyRegistry::run() {
    using namespace std::chrono_literals;
    auto lastFlush = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, 1s);
        if (stopping_) break;
        lock.unlock();
        try {
            reload();
            if (std::chrono::steady_clock::now() - lastFlush >= 10s) {
                flushLastUsed();
                lastFlush = std::chrono::steady_clock::now();
            }
        } catch (const std::exception& e) {
            observe::LogLine(observe::LogLevel::Warn, "api key store").str("error", e.what());
        }
        lock.lock();
    }
}

}  // namespace vigil::auth
