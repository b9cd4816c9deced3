#include "app/keys_command.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

#include "auth/api_keys.h"
#include "config/gateway_config.h"
#include "store/sqlite_store.h"

namespace vigil::app {
namespace {

constexpr const char* kUsage =
    "usage: vigil-gateway keys create --name NAME --roles ROLE[,ROLE...] [--expires DATE] STORE\n"
    "       vigil-gateway keys list STORE\n"
    "       vigil-gateway keys revoke NAME STORE\n"
    "  STORE is --config FILE (the gateway's configuration) or --db FILE (the SQLite store).\n"
    "  DATE is YYYY-MM-DD (the key works through that day, UTC) or YYYY-MM-DDTHH:MM:SSZ.\n"
    "  create prints the key once on standard output; the store keeps only its hash.\n";

int usageError(const std::string& message) {
    std::fprintf(stderr, "vigil-gateway keys: %s\n%s", message.c_str(), kUsage);
    return 2;
}

std::int64_t nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string formatTime(std::optional<std::int64_t> t) {
    if (!t) return "-";
    const std::time_t tt = static_cast<std::time_t>(*t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM:SSZ, UTC.
std::optional<std::int64_t> parseExpiry(const std::string& text) {
    std::tm tm{};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    char tail = 0;
    bool dateOnly = false;
    if (text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &mo, &d, &tail) == 3) {
        dateOnly = true;
    } else if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6) {
        return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::int64_t t = timegm(&tm);
    if (tm.tm_mday != d) return std::nullopt;  // 2026-02-31 and the like
    return dateOnly ? t + 24 * 3600 : t;
}

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto end = comma == std::string::npos ? text.size() : comma;
        if (end > start) out.push_back(text.substr(start, end - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

bool isValidKeyName(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

}  // namespace

int runKeysCommand(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string verb = args[0];
    std::optional<std::string> name, roles, expires, configFile, dbFile, positional;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::optional<std::string>& slot) -> bool {
            if (i + 1 >= args.size()) return false;
            slot = args[++i];
            return true;
        };
        bool ok = true;
        if (a == "--name") {
            ok = value(name);
        } else if (a == "--roles") {
            ok = value(roles);
        } else if (a == "--expires") {
            ok = value(expires);
        } else if (a == "--config") {
            ok = value(configFile);
        } else if (a == "--db") {
            ok = value(dbFile);
        } else if (!a.starts_with("--") && !positional) {
            positional = a;
        } else {
            return usageError("unexpected argument '" + a + "'");
        }
        if (!ok) return usageError(a + " needs a value");
    }
    if (configFile.has_value() == dbFile.has_value()) return usageError("give exactly one of --config FILE or --db FILE");

    try {
        const std::filesystem::path storePath = dbFile ? std::filesystem::path(*dbFile) : config::loadStorePath(*configFile);
        store::SqliteStore store(storePath);
        if (verb == "create") {
            if (!name) return usageError("create needs --name NAME");
            if (!isValidKeyName(*name)) return usageError("key names use letters, digits, '-', '_' and '.' (at most 64)");
            if (!roles) return usageError("create needs --roles ROLE[,ROLE...]");
            const auto roleList = splitList(*roles);
            if (roleList.empty()) return usageError("--roles names no role");
            for (const auto& role : roleList) {
                if (!config::isValidRoleName(role)) return usageError("'" + role + "' is not a valid role name (a-z, 0-9, '-', '_')");
            }
            std::optional<std::int64_t> expiresAt;
            const auto now = nowSeconds();
            if (expires) {
                expiresAt = parseExpiry(*expires);
                if (!expiresAt) return usageError("--expires '" + *expires + "' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
                if (*expiresAt <= now) return usageError("--expires " + *expires + " is in the past");
            }
            const auto created = auth::generateApiKey(*name, roleList, expiresAt, now);
            store.insertApiKey(created.record);
            std::fprintf(stderr, "Created API key '%s' (roles: %s, expires: %s) in %s.\n"
                                 "Store it now: it is shown only this once.\n",
                         name->c_str(), roles->c_str(), formatTime(expiresAt).c_str(), storePath.c_str());
            std::printf("%s\n", created.key.c_str());
            return 0;
        }
        if (verb == "list") {
            std::printf("%-24s %-12s %-28s %-20s %-20s %-20s %-20s\n", "NAME", "KEY ID", "ROLES", "CREATED", "EXPIRES",
                        "REVOKED", "LAST USED");
            for (const auto& k : store.apiKeys()) {
                std::string roleText;
                for (const auto& r : k.roles) roleText += (roleText.empty() ? "" : ",") + r;
                std::printf("%-24s %-12s %-28s %-20s %-20s %-20s %-20s\n", k.name.c_str(), k.keyId.c_str(),
                            roleText.c_str(), formatTime(k.createdAt).c_str(), formatTime(k.expiresAt).c_str(),
                            formatTime(k.revokedAt).c_str(), formatTime(k.lastUsedAt).c_str());
            }
            return 0;
        }
        if (verb == "revoke") {
            const auto target = positional ? positional : name;
            if (!target) return usageError("revoke needs the key's NAME");
            if (!store.revokeApiKey(*target, nowSeconds())) {
                std::fprintf(stderr, "vigil-gateway keys: no active API key named '%s'\n", target->c_str());
                return 1;
            }
            std::fprintf(stderr, "Revoked API key '%s'; the gateway refuses it within a second.\n", target->c_str());
            return 0;
        }
        return usageError("unknown command '" + verb + "'");
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "vigil-gateway keys: config error: %s\n", e.what());
        return 2;
    } catch (const store::StoreError& e) {
        std::fprintf(stderr, "vigil-gateway keys: %s\n", e.what());
        return 1;
    }
}

}  // namespace vigil::app
