#include "config/gateway_config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace vigil::config {
namespace {

using json = nlohmann::json;

// Walks one JSON object, remembers which keys were read, and rejects the rest so that a
// typo ("timeout" for "timeouts") is an error instead of a silently ignored setting.
class ObjectReader {
public:
    ObjectReader(const json& value, std::string path, const std::string& origin)
        : value_(value), path_(std::move(path)), origin_(origin) {
        if (!value_.is_object()) fail(path_, "must be an object");
    }

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw ConfigError(origin_ + ": " + (key.empty() ? "(top level)" : key) + ": " + what);
    }

    std::string keyPath(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    const json* find(std::string_view key) {
        seen_.emplace(key);
        auto it = value_.find(key);
        return it == value_.end() ? nullptr : &*it;
    }

    std::string requiredString(std::string_view key) {
        const json* v = find(key);
        if (v == nullptr) fail(keyPath(key), "is required");
        return asString(*v, keyPath(key));
    }

    std::optional<std::string> optionalString(std::string_view key) {
        const json* v = find(key);
        if (v == nullptr) return std::nullopt;
        return asString(*v, keyPath(key));
    }

    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max) {
        const json* v = find(key);
        if (v == nullptr) return fallback;
        if (!v->is_number_integer()) fail(keyPath(key), "must be an integer");
        const auto n = v->get<std::int64_t>();
        if (n < min || n > max) {
            fail(keyPath(key), "must be between " + std::to_string(min) + " and " +
                                   std::to_string(max) + " (got " + std::to_string(n) + ")");
        }
        return n;
    }

    Milliseconds millis(std::string_view key, Milliseconds fallback, std::int64_t min = 1,
                        std::int64_t max = 24LL * 3600 * 1000) {
        return Milliseconds(integer(key, fallback.count(), min, max));
    }

    ObjectReader object(std::string_view key) {
        const json* v = find(key);
        static const json kEmpty = json::object();
        return ObjectReader(v == nullptr ? kEmpty : *v, keyPath(key), origin_);
    }

    void rejectUnknownKeys() const {
        for (const auto& [key, ignored] : value_.items()) {
            if (!seen_.contains(key)) fail(keyPath(key), "unknown key");
        }
    }

    const json& value() const { return value_; }
    const std::string& path() const { return path_; }
    const std::string& origin() const { return origin_; }

private:
    std::string asString(const json& v, const std::string& key) const {
        if (!v.is_string()) fail(key, "must be a string");
        return v.get<std::string>();
    }

    const json& value_;
    std::string path_;
    const std::string& origin_;
    std::set<std::string, std::less<>> seen_;
};

bool isValidConnectionName(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

// Names that the gateway itself answers at the root, or that would make
// /<connection>/v1/... ambiguous with /v1/....
bool isReservedConnectionName(std::string_view name) {
    static constexpr std::string_view kReserved[] = {"v1", "healthz", "readyz", "metrics", "api",
                                                     "ws", "vigil"};
    return std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved);
}

// Expands ${NAME} from the environment, so deployments can say "${STATE_DIRECTORY}/vigil.db".
std::string expandEnvironment(const ObjectReader& r, const std::string& key, const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        if (text.compare(i, 2, "${") == 0) {
            const auto close = text.find('}', i + 2);
            if (close == std::string::npos) r.fail(key, "has an unterminated ${...}");
            const std::string name = text.substr(i + 2, close - i - 2);
            const char* value = std::getenv(name.c_str());
            if (value == nullptr || *value == '\0') {
                r.fail(key, "uses ${" + name + "}, and environment variable " + name + " is not set");
            }
            out += value;
            i = close + 1;
        } else {
            out += text[i++];
        }
    }
    return out;
}

std::vector<std::string> stringList(ObjectReader& r, std::string_view key, bool required) {
    const json* v = r.find(key);
    std::vector<std::string> out;
    if (v == nullptr) {
        if (required) r.fail(r.keyPath(key), "is required");
        return out;
    }
    if (!v->is_array()) r.fail(r.keyPath(key), "must be an array of strings");
    for (const auto& item : *v) {
        if (!item.is_string() || item.get<std::string>().empty()) {
            r.fail(r.keyPath(key), "must be an array of non-empty strings");
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::filesystem::path resolvePath(const std::filesystem::path& origin, const std::string& p) {
    std::filesystem::path path(p);
    if (path.is_relative()) path = origin.parent_path() / path;
    return path.lexically_normal();
}

void requireReadableFile(const ObjectReader& r, const std::string& key,
                         const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) r.fail(key, "cannot read file '" + path.string() + "'");
}

std::string readCredential(ObjectReader& cred, const std::filesystem::path& origin,
                           CredentialSource& source) {
    const auto env = cred.optionalString("env");
    const auto file = cred.optionalString("file");
    cred.rejectUnknownKeys();
    if (env.has_value() == file.has_value()) {
        cred.fail(cred.path(), "must have exactly one of \"env\" or \"file\"");
    }
    std::string value;
    if (env) {
        source = {CredentialSource::Kind::Env, *env};
        const char* v = std::getenv(env->c_str());
        if (v == nullptr || *v == '\0') {
            cred.fail(cred.keyPath("env"), "environment variable " + *env + " is not set");
        }
        value = v;
    } else {
        const auto path = resolvePath(origin, *file);
        source = {CredentialSource::Kind::File, path.string()};
        std::ifstream in(path, std::ios::binary);
        if (!in) cred.fail(cred.keyPath("file"), "cannot read file '" + path.string() + "'");
        std::ostringstream text;
        text << in.rdbuf();
        value = text.str();
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r' ||
                                  value.back() == ' ' || value.back() == '\t')) {
            value.pop_back();
        }
        if (value.empty()) cred.fail(cred.keyPath("file"), "file '" + path.string() + "' is empty");
    }
    // The value becomes a header: refuse anything that could split it.
    if (std::any_of(value.begin(), value.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
        cred.fail(cred.path(), "the credential contains control characters");
    }
    return value;
}

UpstreamTimeouts readUpstreamTimeouts(ObjectReader r, const UpstreamTimeouts& defaults) {
    UpstreamTimeouts t;
    t.connect = r.millis("connect_ms", defaults.connect);
    t.firstByte = r.millis("first_byte_ms", defaults.firstByte);
    t.idle = r.millis("idle_ms", defaults.idle);
    t.total = r.millis("total_ms", defaults.total);
    r.rejectUnknownKeys();
    return t;
}

Connection readConnection(const std::string& name, const json& value, const std::string& path,
                          const std::filesystem::path& origin, const std::string& originText,
                          const UpstreamTimeouts& defaults) {
    ObjectReader r(value, path, originText);
    if (!isValidConnectionName(name)) {
        r.fail(path, "connection names use a-z, 0-9, '-' and '_' (at most 64 characters)");
    }
    if (isReservedConnectionName(name)) r.fail(path, "'" + name + "' is a reserved path");
    Connection c;
    c.name = name;
    c.kind = r.requiredString("kind");
    if (c.kind != "openai") r.fail(r.keyPath("kind"), "must be \"openai\" (got \"" + c.kind + "\")");
    const std::string url = r.requiredString("base_url");
    std::string urlError;
    auto parsed = parseUpstreamUrl(url, urlError);
    if (!parsed) r.fail(r.keyPath("base_url"), urlError);
    c.baseUrl = std::move(*parsed);
    if (auto ca = r.optionalString("ca_file")) {
        if (!c.baseUrl.https) r.fail(r.keyPath("ca_file"), "only applies to an https base_url");
        c.caFile = resolvePath(origin, *ca);
        requireReadableFile(r, r.keyPath("ca_file"), *c.caFile);
    }
    if (r.find("api_key") != nullptr || r.find("key") != nullptr || r.find("token") != nullptr) {
        r.fail(r.keyPath("credential"),
               "the credential is never written in the config: use "
               "\"credential\": {\"env\": \"VAR\"} or {\"file\": \"path\"}");
    }
    if (r.find("credential") == nullptr) r.fail(r.keyPath("credential"), "is required");
    auto cred = r.object("credential");
    c.credential = readCredential(cred, origin, c.credentialSource);
    c.timeouts = readUpstreamTimeouts(r.object("timeouts"), defaults);
    for (const auto& [key, target] : {std::pair{"organization", &c.organization}, std::pair{"project", &c.project}}) {
        if (auto id = r.optionalString(key)) {
            const bool printable = !id->empty() && std::all_of(id->begin(), id->end(), [](char ch) {
                return static_cast<unsigned char>(ch) > 0x20 && static_cast<unsigned char>(ch) < 0x7F;
            });
            if (!printable) r.fail(r.keyPath(key), "must be a non-empty id in printable ASCII without spaces");
            *target = std::move(*id);
        }
    }
    if (r.find("allowed_roles") != nullptr) {
        c.allowedRoles = stringList(r, "allowed_roles", true);
        for (const auto& role : c.allowedRoles) {
            if (!isValidRoleName(role)) r.fail(r.keyPath("allowed_roles"), "'" + role + "' is not a valid role name");
        }
    } else {
        c.allowedRoles = {"requester"};
    }
    const auto authentication = r.optionalString("authentication").value_or("required");
    if (authentication == "none") {
        c.authentication = Connection::Authentication::None;
    } else if (authentication != "required") {
        r.fail(r.keyPath("authentication"), "must be \"required\" or \"none\" (got \"" + authentication + "\")");
    }
    r.rejectUnknownKeys();
    return c;
}

Listener readListener(const json& value, const std::string& path,
                      const std::filesystem::path& origin, const std::string& originText) {
    ObjectReader r(value, path, originText);
    Listener l;
    l.address = r.optionalString("address").value_or("127.0.0.1");
    l.port = static_cast<std::uint16_t>(r.integer("port", -1, 0, 65535));
    if (r.find("port") == nullptr) r.fail(r.keyPath("port"), "is required (0 picks a free port)");
    if (r.find("tls") != nullptr) {
        auto tls = r.object("tls");
        TlsFiles files;
        files.certFile = resolvePath(origin, tls.requiredString("cert_file"));
        files.keyFile = resolvePath(origin, tls.requiredString("key_file"));
        requireReadableFile(tls, tls.keyPath("cert_file"), files.certFile);
        requireReadableFile(tls, tls.keyPath("key_file"), files.keyFile);
        tls.rejectUnknownKeys();
        l.tls = std::move(files);
    }
    r.rejectUnknownKeys();
    return l;
}

std::string lineAndColumn(std::string_view text, std::size_t byte) {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

void readIdentity(ObjectReader& root, const std::filesystem::path& origin, Identity& identity) {
    auto r = root.object("identity");
    if (const json* issuers = r.find("issuers")) {
        if (!issuers->is_array()) r.fail(r.keyPath("issuers"), "must be an array");
        for (std::size_t i = 0; i < issuers->size(); ++i) {
            ObjectReader ir((*issuers)[i], r.keyPath("issuers") + "[" + std::to_string(i) + "]", r.origin());
            Issuer issuer;
            issuer.issuer = ir.requiredString("issuer");
            std::string urlError;
            if (!parseUpstreamUrl(issuer.issuer, urlError)) ir.fail(ir.keyPath("issuer"), urlError);
            // Tokens are matched to an issuer by their iss: a second entry would never be used.
            for (std::size_t j = 0; j < identity.issuers.size(); ++j) {
                if (identity.issuers[j].issuer == issuer.issuer) {
                    ir.fail(ir.keyPath("issuer"), "'" + issuer.issuer + "' is already configured at " + r.keyPath("issuers") +
                                                      "[" + std::to_string(j) + "]; list all its audiences in one entry");
                }
            }
            issuer.audiences = stringList(ir, "audiences", true);
            if (issuer.audiences.empty()) ir.fail(ir.keyPath("audiences"), "must name at least one audience");
            std::string base = issuer.issuer;
            while (base.ends_with('/')) base.pop_back();
            issuer.discoveryUrl = ir.optionalString("discovery_url")
                                      .value_or(base + "/.well-known/openid-configuration");
            if (!parseUpstreamUrl(issuer.discoveryUrl, urlError)) ir.fail(ir.keyPath("discovery_url"), urlError);
            issuer.subjectClaim = ir.optionalString("subject_claim").value_or("sub");
            issuer.groupsClaim = ir.optionalString("groups_claim").value_or("groups");
            issuer.leeway = std::chrono::seconds(ir.integer("leeway_s", 60, 0, 3600));
            issuer.jwksRefresh = std::chrono::seconds(ir.integer("jwks_refresh_s", 300, 30, 86400));
            if (auto ca = ir.optionalString("ca_file")) {
                issuer.caFile = resolvePath(origin, *ca);
                requireReadableFile(ir, ir.keyPath("ca_file"), *issuer.caFile);
            }
            ir.rejectUnknownKeys();
            identity.issuers.push_back(std::move(issuer));
        }
    }
    if (const json* roles = r.find("roles")) {
        if (!roles->is_object()) r.fail(r.keyPath("roles"), "must be an object: role -> {\"groups\": [...]}");
        for (const auto& [role, value] : roles->items()) {
            ObjectReader rr(value, r.keyPath("roles") + "." + role, r.origin());
            if (!isValidRoleName(role)) rr.fail(rr.path(), "is not a valid role name (a-z, 0-9, '-', '_')");
            identity.roles.push_back({role, stringList(rr, "groups", true)});
            rr.rejectUnknownKeys();
        }
    }
    identity.tokenCacheSize = static_cast<std::size_t>(r.integer("token_cache_size", 10'000, 1, 10'000'000));
    r.rejectUnknownKeys();
}

}  // namespace

bool isValidRoleName(std::string_view name) { return isValidConnectionName(name); }

const Connection* GatewayConfig::findConnection(std::string_view name) const {
    for (const auto& c : connections) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string& error) {
    UpstreamUrl url;
    url.text = std::string(text);
    std::string_view rest;
    if (text.starts_with("https://")) {
        url.https = true;
        rest = text.substr(8);
    } else if (text.starts_with("http://")) {
        rest = text.substr(7);
    } else {
        error = "must start with http:// or https:// (got \"" + std::string(text) + "\")";
        return std::nullopt;
    }
    const auto pathStart = rest.find('/');
    std::string_view authority = rest.substr(0, pathStart);
    std::string_view path = pathStart == std::string_view::npos ? "" : rest.substr(pathStart);
    if (path.find_first_of("?#") != std::string_view::npos) {
        error = "must not contain a query or fragment";
        return std::nullopt;
    }
    if (authority.find('@') != std::string_view::npos) {
        error = "must not contain user information (use \"credential\")";
        return std::nullopt;
    }
    std::string_view portText;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "has an unterminated IPv6 address";
            return std::nullopt;
        }
        url.host = std::string(authority.substr(1, close - 1));
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') {
                error = "has an invalid authority";
                return std::nullopt;
            }
            portText = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
    }
    if (url.host.empty()) {
        error = "has no host";
        return std::nullopt;
    }
    if (!portText.empty()) {
        unsigned port = 0;
        for (char c : portText) {
            if (c < '0' || c > '9' || port > 65535) {
                error = "has an invalid port";
                return std::nullopt;
            }
            port = port * 10 + static_cast<unsigned>(c - '0');
        }
        if (port == 0 || port > 65535) {
            error = "has an invalid port";
            return std::nullopt;
        }
        url.port = static_cast<std::uint16_t>(port);
    } else {
        url.port = url.https ? 443 : 80;
    }
    while (path.ends_with('/')) path.remove_suffix(1);
    url.pathPrefix = std::string(path);
    return url;
}

static std::vector<ModelPrice> readPrices(ObjectReader& r, const std::string& originText) {
    std::vector<ModelPrice> prices;
    if (const json* models = r.find("models")) {
        if (!models->is_object()) r.fail("models", "must be an object: model -> {\"input_per_million\": N, \"output_per_million\": N}");
        for (const auto& [model, value] : models->items()) {
            ObjectReader mr(value, "models." + model, originText);
            ModelPrice price;
            price.model = model;
            auto number = [&](const char* key) {
                const json* v = mr.find(key);
                if (v == nullptr) return 0.0;
                if (!v->is_number() || v->get<double>() < 0) mr.fail(mr.keyPath(key), "must be a non-negative number");
                return v->get<double>();
            };
            price.inputPerMillion = number("input_per_million");
            price.outputPerMillion = number("output_per_million");
            mr.rejectUnknownKeys();
            prices.push_back(std::move(price));
        }
    }

    return prices;
}

static RecordingSettings readRecording(ObjectReader& root, const std::filesystem::path& origin,
                                const std::filesystem::path& sqlitePath) {
    RecordingSettings settings;
    settings.keyFile = sqlitePath.parent_path() / "signing-key.pem";
    if (root.find("recording") == nullptr) return settings;
    auto r = root.object("recording");
    if (const auto durability = r.optionalString("durability")) {
        if (*durability == "strict") {
            settings.durability = RecordingSettings::Durability::Strict;
        } else if (*durability == "relaxed") {
            settings.durability = RecordingSettings::Durability::Relaxed;
        } else {
            r.fail(r.keyPath("durability"), "must be \"strict\" or \"relaxed\" (got \"" + *durability + "\")");
        }
    }
    if (const auto keyFile = r.optionalString("key_file")) {
        settings.keyFile = resolvePath(origin, expandEnvironment(r, r.keyPath("key_file"), *keyFile));
    }
    settings.checkpointEvery = r.integer("checkpoint_every", settings.checkpointEvery, 1, 1'000'000);
    settings.checkpointInterval = r.millis("checkpoint_interval_ms", settings.checkpointInterval, 10, 3'600'000);
    settings.retentionDays = static_cast<int>(r.integer("retention_days", 0, 0, 36'500));
    settings.commitSpin = std::chrono::microseconds(r.integer("commit_spin_us", settings.commitSpin.count(), 0, 100'000));
    r.rejectUnknownKeys();
    return settings;
}

GatewayConfig parseConfig(std::string_view text, const std::filesystem::path& origin) {
    const std::string originText = origin.string();
    json root;
    try {
        root = json::parse(text, nullptr, true, /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
        throw ConfigError(originText + ": not valid JSON at " + lineAndColumn(text, e.byte) +
                          ": " + e.what());
    }
    ObjectReader r(root, "", originText);
    GatewayConfig config;
    config.sourceFile = origin;

    const json* listeners = r.find("listeners");
    if (listeners == nullptr) r.fail("listeners", "is required");
    if (!listeners->is_array() || listeners->empty()) {
        r.fail("listeners", "must be a non-empty array");
    }
    for (std::size_t i = 0; i < listeners->size(); ++i) {
        config.listeners.push_back(readListener((*listeners)[i],
                                                "listeners[" + std::to_string(i) + "]", origin,
                                                originText));
    }

    auto timeouts = r.object("timeouts");
    config.clientTimeouts.request = timeouts.millis("client_request_ms", config.clientTimeouts.request);
    config.clientTimeouts.keepAlive =
        timeouts.millis("client_keep_alive_ms", config.clientTimeouts.keepAlive);
    UpstreamTimeouts upstreamDefaults;
    upstreamDefaults.connect = timeouts.millis("connect_ms", upstreamDefaults.connect);
    upstreamDefaults.firstByte = timeouts.millis("first_byte_ms", upstreamDefaults.firstByte);
    upstreamDefaults.idle = timeouts.millis("idle_ms", upstreamDefaults.idle);
    upstreamDefaults.total = timeouts.millis("total_ms", upstreamDefaults.total);
    timeouts.rejectUnknownKeys();

    const json* connections = r.find("connections");
    if (connections == nullptr) r.fail("connections", "is required");
    if (!connections->is_object() || connections->empty()) {
        r.fail("connections", "must be an object with at least one connection");
    }
    for (const auto& [name, value] : connections->items()) {
        config.connections.push_back(readConnection(name, value, "connections." + name, origin,
                                                    originText, upstreamDefaults));
    }

    if (auto def = r.optionalString("default_connection")) {
        const auto it = std::find_if(config.connections.begin(), config.connections.end(),
                                     [&](const Connection& c) { return c.name == *def; });
        if (it == config.connections.end()) {
            r.fail("default_connection", "names no connection (\"" + *def + "\")");
        }
        config.defaultConnection = static_cast<std::size_t>(it - config.connections.begin());
    } else if (config.connections.size() > 1) {
        r.fail("default_connection", "is required when there is more than one connection");
    }

    auto limits = r.object("limits");
    constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;
    config.limits.maxHeaderBytes = static_cast<std::size_t>(
        limits.integer("max_header_bytes", static_cast<std::int64_t>(config.limits.maxHeaderBytes),
                       1024, 1024 * 1024));
    config.limits.maxBodyBytes = static_cast<std::size_t>(limits.integer(
        "max_body_bytes", static_cast<std::int64_t>(config.limits.maxBodyBytes), 1, kGiB));
    config.limits.maxResponseBytes = static_cast<std::size_t>(limits.integer(
        "max_response_bytes", static_cast<std::int64_t>(config.limits.maxResponseBytes), 1, kGiB));
    limits.rejectUnknownKeys();

    config.threads = static_cast<int>(r.integer("threads", 0, 0, 256));
    config.shutdownGrace = r.millis("shutdown_grace_ms", config.shutdownGrace, 0);

    auto logging = r.object("log");
    const auto level = logging.optionalString("level").value_or("info");
    if (level == "debug") {
        config.logging.level = Logging::Level::Debug;
    } else if (level == "info") {
        config.logging.level = Logging::Level::Info;
    } else if (level == "warn") {
        config.logging.level = Logging::Level::Warn;
    } else if (level == "error") {
        config.logging.level = Logging::Level::Error;
    } else {
        logging.fail("log.level", "must be one of debug, info, warn, error (got \"" + level + "\")");
    }
    logging.rejectUnknownKeys();

    readIdentity(r, origin, config.identity);

    config.prices = readPrices(r, originText);

    auto store = r.object("store");
    const auto sqlite = store.optionalString("sqlite_path").value_or("vigil.db");
    config.store.sqlitePath = resolvePath(origin, expandEnvironment(store, store.keyPath("sqlite_path"), sqlite));
    store.rejectUnknownKeys();
    config.recording = readRecording(r, origin, config.store.sqlitePath);
    config.masking.keyFile = config.store.sqlitePath.parent_path() / "masking-key";
    if (r.find("masking") != nullptr) {
        auto masking = r.object("masking");
        if (const auto keyFile = masking.optionalString("key_file")) {
            config.masking.keyFile = resolvePath(origin, expandEnvironment(masking, masking.keyPath("key_file"), *keyFile));
        }
        masking.rejectUnknownKeys();
    }

    if (r.find("siem") != nullptr) {
        auto siem = r.object("siem");
        auto& ss = config.siem;
        int sinks = 0;
        if (const auto file = siem.optionalString("file")) {
            ss.sink = SiemSettings::Sink::File;
            ss.file = resolvePath(origin, expandEnvironment(siem, siem.keyPath("file"), *file));
            ++sinks;
        }
        if (const json* out = siem.find("stdout")) {
            if (!out->is_boolean()) siem.fail(siem.keyPath("stdout"), "must be true or false");
            if (out->get<bool>()) {
                ss.sink = SiemSettings::Sink::Stdout;
                ++sinks;
            }
        }
        if (siem.find("syslog") != nullptr) {
            auto syslog = siem.object("syslog");
            const auto address = syslog.requiredString("address");
            const auto colon = address.rfind(':');
            int port = 0;
            if (colon == std::string::npos || colon == 0 || (port = std::atoi(address.c_str() + colon + 1)) <= 0 || port > 65535) {
                syslog.fail(syslog.keyPath("address"), "must be HOST:PORT, such as 127.0.0.1:514 (got \"" + address + "\")");
            }
            ss.host = address.substr(0, colon);
            ss.port = static_cast<std::uint16_t>(port);
            const auto protocol = syslog.optionalString("protocol").value_or("udp");
            if (protocol != "udp" && protocol != "tcp") syslog.fail(syslog.keyPath("protocol"), "must be udp or tcp (got \"" + protocol + "\")");
            ss.tcp = protocol == "tcp";
            syslog.rejectUnknownKeys();
            ss.sink = SiemSettings::Sink::Syslog;
            ++sinks;
        }
        if (sinks > 1) siem.fail("siem", "names more than one sink: choose one of file, stdout, syslog");
        ss.maxQueue = siem.integer("max_queue", ss.maxQueue, 100, 10'000'000);
        siem.rejectUnknownKeys();
    }

    if (r.find("reviews") != nullptr) {
        auto reviews = r.object("reviews");
        auto& rs = config.reviews;
        rs.grantWindowSeconds = reviews.integer("grant_window_seconds", rs.grantWindowSeconds, 10, 7 * 24 * 3600);
        rs.keepAlive = reviews.millis("keepalive_ms", rs.keepAlive, 100);
        rs.maxPending = reviews.integer("max_pending", rs.maxPending, 1, 1'000'000);
        rs.maxPendingPerRequester = reviews.integer("max_pending_per_requester", rs.maxPendingPerRequester, 1, 1'000'000);
        rs.maxOutputBytes = reviews.integer("max_output_bytes", rs.maxOutputBytes, 1024, 64LL * 1024 * 1024);
        rs.replayEvents = reviews.integer("replay_events", rs.replayEvents, 1, 10'000'000);
        rs.maxQueuedBytes = reviews.integer("max_queued_bytes", rs.maxQueuedBytes, 4096, 1024LL * 1024 * 1024);
        rs.maxEventSocketsPerIdentity = reviews.integer("max_event_sockets_per_identity", rs.maxEventSocketsPerIdentity, 1, 100'000);
        reviews.rejectUnknownKeys();
    }

    if (r.find("policy") != nullptr) {
        auto policy = r.object("policy");
        PolicySettings settings;
        settings.file = resolvePath(origin, expandEnvironment(policy, policy.keyPath("file"), policy.requiredString("file")));
        if (const json* watch = policy.find("watch")) {
            if (!watch->is_boolean()) policy.fail(policy.keyPath("watch"), "must be true or false");
            settings.watch = watch->get<bool>();
        }
        settings.poll = policy.millis("poll_ms", settings.poll, 50, 60'000);
        policy.rejectUnknownKeys();
        config.policy = std::move(settings);
    }

    r.rejectUnknownKeys();
    return config;
}

std::pair<std::filesystem::path, RecordingSettings> loadRecordingSettings(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    const std::string originText = std::filesystem::absolute(file).string();
    json root;
    try {
        root = json::parse(text.str(), nullptr, true, true);
    } catch (const json::parse_error& e) {
        throw ConfigError(originText + ": not valid JSON: " + e.what());
    }
    if (!root.is_object()) throw ConfigError(originText + ": (top level): must be an object");
    const auto sqlitePath = loadStorePath(file);
    ObjectReader r(root, "", originText);
    return {sqlitePath, readRecording(r, std::filesystem::absolute(file), sqlitePath)};
}

std::filesystem::path loadStorePath(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    const std::string originText = std::filesystem::absolute(file).string();
    json root;
    try {
        root = json::parse(text.str(), nullptr, true, true);
    } catch (const json::parse_error& e) {
        throw ConfigError(originText + ": not valid JSON: " + e.what());
    }
    if (!root.is_object()) throw ConfigError(originText + ": (top level): must be an object");
    static const json kEmpty = json::object();
    const json& storeJson = root.contains("store") ? root["store"] : kEmpty;
    ObjectReader store(storeJson, "store", originText);
    const auto sqlite = store.optionalString("sqlite_path").value_or("vigil.db");
    return resolvePath(std::filesystem::absolute(file),
                       expandEnvironment(store, store.keyPath("sqlite_path"), sqlite));
}

std::vector<ModelPrice> loadModelPrices(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    const std::string originText = std::filesystem::absolute(file).string();
    json root;
    try {
        root = json::parse(text.str(), nullptr, true, true);
    } catch (const json::parse_error& e) {
        throw ConfigError(originText + ": not valid JSON: " + e.what());
    }
    ObjectReader r(root, "", originText);
    return readPrices(r, originText);
}

GatewayConfig loadConfig(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    return parseConfig(text.str(), std::filesystem::absolute(file));
}

}  // namespace vigil::config
