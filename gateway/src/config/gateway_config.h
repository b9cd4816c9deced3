#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil::config {

using Milliseconds = std::chrono::milliseconds;

// Thrown only while loading: "<file>: <key>: <what is wrong>".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct UpstreamUrl {
    bool https = false;
    std::string host;        // without brackets for IPv6
    std::uint16_t port = 0;  // defaulted from the scheme when absent
    std::string pathPrefix;  // "" or "/openai" (no trailing slash)
    std::string text;        // as written, for logs
};

struct UpstreamTimeouts {
    Milliseconds connect{5'000};
    Milliseconds firstByte{120'000};
    Milliseconds idle{60'000};  // between two reads of the response body (SSE events)
    Milliseconds total{600'000};
};

// Where the credential comes from; the value itself is never in the config text.
struct CredentialSource {
    enum class Kind { Env, File };
    Kind kind = Kind::Env;
    std::string reference;  // variable name or file path
};

struct Connection {
    std::string name;
    std::vector<std::string> allowedRoles;  // roles that may call this connection
    // None: callers need no credentials (public endpoints); they are recorded as anonymous.
    enum class Authentication { Required, None };
    Authentication authentication = Authentication::Required;
    std::string kind;  // "openai"
    UpstreamUrl baseUrl;
    std::optional<std::filesystem::path> caFile;
    CredentialSource credentialSource;
    std::string credential;  // resolved at load; never logged
    // Sent as OpenAI-Organization / OpenAI-Project with the credential (a caller's own are
    // dropped: the connection decides what the credential acts for).
    std::optional<std::string> organization;
    std::optional<std::string> project;
    UpstreamTimeouts timeouts;
};

struct TlsFiles {
    std::filesystem::path certFile;
    std::filesystem::path keyFile;
};

struct Listener {
    std::string address;
    std::uint16_t port = 0;
    std::optional<TlsFiles> tls;
};

struct Limits {
    std::size_t maxHeaderBytes = 16 * 1024;
    std::size_t maxBodyBytes = 10 * 1024 * 1024;
    std::size_t maxResponseBytes = 64 * 1024 * 1024;  // buffered (non-streaming) responses
};

struct ClientTimeouts {
    Milliseconds request{30'000};    // reading one request, headers and body
    Milliseconds keepAlive{75'000};  // idle between two requests on one connection
};

struct Logging {
    enum class Level { Debug, Info, Warn, Error };
    Level level = Level::Info;
};

// One OpenID Connect issuer whose bearer tokens the gateway accepts.
struct Issuer {
    std::string issuer;                  // must equal the token's "iss"
    std::vector<std::string> audiences;  // the token's "aud" must contain one
    std::string discoveryUrl;            // <issuer>/.well-known/openid-configuration
    std::string subjectClaim = "sub";    // dotted path
    std::string groupsClaim = "groups";  // dotted path: "realm_access.roles", "cognito:groups"
    std::chrono::seconds leeway{60};     // for exp, nbf, iat
    std::chrono::seconds jwksRefresh{300};
    std::optional<std::filesystem::path> caFile;  // for https discovery; else the system store
};

struct RoleMapping {
    std::string role;
    std::vector<std::string> groups;  // members of any of these groups have the role
};

struct Identity {
    std::vector<Issuer> issuers;
    std::vector<RoleMapping> roles;
    std::size_t tokenCacheSize = 10'000;
};

struct Store {
    std::filesystem::path sqlitePath;
};

// Prices per million tokens, for the estimated cost of a request (inspect stage).
struct ModelPrice {
    std::string model;
    double inputPerMillion = 0.0;
    double outputPerMillion = 0.0;
};

// The policy file (see docs/policy.md) and how the gateway notices that it changed.
struct PolicySettings {
    std::filesystem::path file;
    bool watch = true;           // reload when the file changes (SIGHUP always reloads)
    Milliseconds poll{500};      // how often the file is checked
};

// The recording (docs/recording.md).
struct RecordingSettings {
    // strict: a response is completed only once its events are on disk (fsync);
    // relaxed: events are committed in the background, and the database is not synced
    // on every commit (a power loss may lose the last ones; a process crash does not).
    enum class Durability { Strict, Relaxed };
    Durability durability = Durability::Strict;
    std::filesystem::path keyFile;  // Ed25519 private key; default beside the database
    std::int64_t checkpointEvery = 1000;  // events between two signed checkpoints, at most
    Milliseconds checkpointInterval{5000};
    int retentionDays = 0;  // 0: kept forever
    // Strict durability: how long the recorder's writer, and a thread whose response waits
    // for a commit, poll instead of sleeping when commits come that close (0: never).
    std::chrono::microseconds commitSpin{1000};
};

// Masking (docs/masking.md): the profiles live in the policy file; the gateway holds the
// key of the hash operator.
struct MaskingSettings {
    std::filesystem::path keyFile;  // HMAC-SHA256 key, hex; default "masking-key" beside the database
};

// The review gate and the live event stream (docs/reviews.md).
struct ReviewSettings {
    std::int64_t grantWindowSeconds = 900;      // ticket mode: how long an approval may be used
    Milliseconds keepAlive{15'000};             // hold mode, streaming callers: comment interval
    std::int64_t maxPending = 10'000;           // beyond: 503 too_many_pending_reviews
    std::int64_t maxPendingPerRequester = 100;  // one caller's; beyond: 429 too_many_own_pending_reviews
    std::int64_t maxOutputBytes = 1024 * 1024;  // output review: the most an answer held may be
    std::int64_t replayEvents = 10'000;         // /api/events: events kept for reconnecting clients
    std::int64_t maxQueuedBytes = 4 * 1024 * 1024;  // /api/events: per client, beyond: closed (1008)
    std::int64_t maxEventSocketsPerIdentity = 16;   // /api/events: beyond, 429 rate_limited
};

// The SIEM stream (docs/evidence.md): every recorded event as an OCSF-shaped JSON line.
struct SiemSettings {
    enum class Sink { None, File, Stdout, Syslog };
    Sink sink = Sink::None;
    std::filesystem::path file;  // File: appended to
    std::string host;            // Syslog
    std::uint16_t port = 514;
    bool tcp = false;            // Syslog over TCP (RFC 6587 octet counting), else UDP
    std::int64_t maxQueue = 100'000;  // events waiting for a slow sink; beyond: dropped and counted
};

struct GatewayConfig {
    std::filesystem::path sourceFile;
    std::vector<Listener> listeners;
    std::vector<Connection> connections;
    std::size_t defaultConnection = 0;  // index into connections
    Limits limits;
    ClientTimeouts clientTimeouts;
    int threads = 0;  // 0: one per core
    Milliseconds shutdownGrace{30'000};
    Logging logging;
    Identity identity;
    Store store;
    RecordingSettings recording;
    MaskingSettings masking;
    ReviewSettings reviews;
    SiemSettings siem;
    std::vector<ModelPrice> prices;
    std::optional<PolicySettings> policy;  // none: every request that passes the role check is allowed

    const Connection* findConnection(std::string_view name) const;
};

// Reads, validates and resolves (credentials, relative paths) a config file.
// Throws ConfigError naming the file, the key and the problem.
GatewayConfig loadConfig(const std::filesystem::path& file);

// Same, from text; `origin` is used in messages and to resolve relative paths.
GatewayConfig parseConfig(std::string_view text, const std::filesystem::path& origin);

// Only the store path of a config file, for the `keys` commands (which must work where the
// upstream credentials are not available). Throws ConfigError.
std::filesystem::path loadStorePath(const std::filesystem::path& file);

// Only the store path and the recording settings, for `recording public-key`.
std::pair<std::filesystem::path, RecordingSettings> loadRecordingSettings(const std::filesystem::path& file);

// Only the price table ("models") of a config file, for `policy explain`. Throws ConfigError.
std::vector<ModelPrice> loadModelPrices(const std::filesystem::path& file);

// Role names: a-z, 0-9, '-', '_', at most 64 characters.
bool isValidRoleName(std::string_view name);

// Parses "http[s]://host[:port][/prefix]"; returns nullopt with `error` set when invalid.
std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string& error);

}  // namespace vigil::config
