#include "app/gateway_app.h"

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "auth/api_keys.h"
#include "auth/oidc_issuer.h"
#include "auth/token_verifier.h"
#include "chain/pipeline.h"
#include "net/http_fetch.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "mask/profile.h"
#include "policy/policy_loader.h"
#include "policy/policy_source.h"
#include "policy/usage_tracker.h"
#include "scan/pattern_set.h"
#include "api/evidence_api.h"
#include "api/recording_api.h"
#include "api/review_api.h"
#include "events/event_bus.h"
#include "review/review_manager.h"
#include "record/recorder.h"
#include "record/siem_stream.h"
#include "store/session_reader.h"
#include "store/sqlite_store.h"
#include "vigil/json_text.h"

namespace vigil::app {
namespace {

// Masking and policy text conditions trust the regex engine to find every match. Some
// builds of libhs do not (Vectorscan 5.4.9, Debian 12's, on AVX-512 machines: matches are
// lost depending on where the text lies in memory), so the gateway checks cases known to
// go wrong at every alignment before it serves, and refuses to start without a sound engine.
std::string regexEngineProblem() {
    std::vector<char> buffer(512);
    auto* base = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(buffer.data()) + 63) & ~std::uintptr_t{63});
    const std::string policyText = std::string(70, 'x') + " c0@example.com";
    scan::PatternSet policyPatterns;
    std::vector<scan::PatternError> errors;
    if (!policyPatterns.compile({{"@[a-z]+", false}, {"[a-z0-9]+@[a-z]+", false}}, errors)) return "cannot compile its probe";
    std::string problem;
    mask::ProfileSpec spec;
    spec.entities = {"EMAIL"};
    const auto profile = mask::Profile::compile(spec, problem);
    if (!profile) return problem;
    const std::string maskText = "customer_full_name,customer_segment,ssn,account,registered_email_address\n"
                                 "Customer Number 0,enterprise,100-45-6789,AC-9000,c0@example.com\n";
    std::vector<mask::Span> spans;
    for (std::size_t offset = 0; offset < 64; ++offset) {
        std::memcpy(base + offset, policyText.data(), policyText.size());
        std::size_t matched = 0;
        policyPatterns.scan(std::string_view(base + offset, policyText.size()), [&](std::size_t, std::size_t) { ++matched; });
        std::memcpy(base + offset, maskText.data(), maskText.size());
        profile->find(std::string_view(base + offset, maskText.size()), spans);
        if (matched != 2 || spans.size() != 1) {
            return "the regular expression library (libhs " + scan::PatternSet::engineVersion() +
                   ") misses matches depending on where a text lies in memory, so masking and policy text conditions "
                   "cannot be trusted; on amd64 install Intel's Hyperscan (libhyperscan5) instead of Vectorscan "
                   "(installers/install-deps.sh)";
        }
    }
    return {};
}

}  // namespace

net::ServerOptions serverOptions(const config::GatewayConfig& config) {
    net::ServerOptions options;
    for (const auto& l : config.listeners) {
        net::ListenerOptions listener;
        listener.address = l.address;
        listener.port = l.port;
        if (l.tls) {
            listener.certFile = l.tls->certFile;
            listener.keyFile = l.tls->keyFile;
        }
        options.listeners.push_back(std::move(listener));
    }
    for (const auto& c : config.connections) {
        net::UpstreamOptions upstream;
        upstream.name = c.name;
        upstream.https = c.baseUrl.https;
        upstream.host = c.baseUrl.host;
        upstream.port = c.baseUrl.port;
        upstream.caFile = c.caFile;
        upstream.connectTimeout = c.timeouts.connect;
        upstream.firstByteTimeout = c.timeouts.firstByte;
        upstream.idleTimeout = c.timeouts.idle;
        upstream.totalTimeout = c.timeouts.total;
        options.upstreams.push_back(std::move(upstream));
    }
    options.threads = config.threads;
    options.maxHeaderBytes = config.limits.maxHeaderBytes;
    options.maxBodyBytes = config.limits.maxBodyBytes;
    options.maxResponseBytes = config.limits.maxResponseBytes;
    options.requestTimeout = config.clientTimeouts.request;
    options.keepAliveTimeout = config.clientTimeouts.keepAlive;
    options.shutdownGrace = config.shutdownGrace;
    options.webSocketMaxQueuedBytes = static_cast<std::size_t>(config.reviews.maxQueuedBytes);
    return options;
}

int runGateway(const config::GatewayConfig& config) {
    std::signal(SIGPIPE, SIG_IGN);
    // A file-size limit must fail the write (and the recording, which then fails closed),
    // not kill the gateway.
    std::signal(SIGXFSZ, SIG_IGN);
    // Before any thread starts, so that only the policy thread receives SIGHUP.
    policy::PolicySource::blockReloadSignal();
    observe::setLogLevel(static_cast<observe::LogLevel>(config.logging.level));
    if (const auto problem = regexEngineProblem(); !problem.empty()) {
        observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", problem);
        return 1;
    }
    auto shared = std::make_shared<const config::GatewayConfig>(config);
    std::vector<std::string> names;
    for (const auto& c : config.connections) names.push_back(c.name);
    auto metrics = std::make_shared<observe::Metrics>(std::move(names));

    std::shared_ptr<auth::ApiKeyRegistry> apiKeys;
    try {
        apiKeys = std::make_shared<auth::ApiKeyRegistry>(config.store.sqlitePath);
    } catch (const std::exception& e) {
        observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", e.what());
        return 1;
    }
    // Discovery and key sets are fetched in the background: the gateway serves API keys
    // (and tokens, once their issuer's keys arrive) even while an identity provider is down.
    net::HttpFetcher fetcher;
    std::vector<std::shared_ptr<auth::OidcIssuer>> issuers;
    for (const auto& issuer : config.identity.issuers) {
        issuers.push_back(std::make_shared<auth::OidcIssuer>(issuer, fetcher));
    }
    auto tokens = std::make_shared<auth::TokenVerifier>(issuers, config.identity.roles,
                                                        config.identity.tokenCacheSize);
    std::shared_ptr<policy::PolicySource> policySource;
    std::shared_ptr<policy::UsageTracker> usage;
    if (config.policy) {
        auto loaded = policy::loadPolicyFile(config.policy->file);
        if (!loaded.policy) {
            for (const auto& issue : loaded.issues) {
                std::fprintf(stderr, "vigil-gateway: policy error: %s\n",
                             policy::formatIssue(config.policy->file, issue).c_str());
            }
            observe::LogLine(observe::LogLevel::Error, "cannot start")
                .str("error", "the policy has " + std::to_string(loaded.issues.size()) + " error(s)")
                .str("file", config.policy->file.string());
            return 2;
        }
        observe::LogLine(observe::LogLevel::Info, "policy")
            .str("file", config.policy->file.string())
            .str("version", loaded.policy->version)
            .num("rules", static_cast<std::int64_t>(loaded.policy->rules.size()))
            .str("default_action", policy::actionName(loaded.policy->defaultAction))
            .flag("watch", config.policy->watch);
        policySource = std::make_shared<policy::PolicySource>(config.policy->file, std::move(loaded.policy), metrics);
        try {
            usage = std::make_shared<policy::UsageTracker>(config.store.sqlitePath);
        } catch (const std::exception& e) {
            observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", e.what());
            return 1;
        }
    } else {
        observe::LogLine(observe::LogLevel::Warn, "no policy")
            .str("effect", "every authenticated request allowed by the connection's allowed_roles is forwarded");
    }
    // The SIEM stream: every event as it is committed, from the recorder's first (the
    // request.interrupted events it writes while it starts included).
    std::shared_ptr<record::SiemStream> siem;  // the recorder's tap keeps it until the recorder's last event
    if (config.siem.sink != config::SiemSettings::Sink::None) {
        record::SiemStream::Options o;
        o.sink = config.siem.sink == config::SiemSettings::Sink::File     ? record::SiemStream::Options::Sink::File
                 : config.siem.sink == config::SiemSettings::Sink::Stdout ? record::SiemStream::Options::Sink::Stdout
                                                                           : record::SiemStream::Options::Sink::Syslog;
        o.file = config.siem.file;
        o.host = config.siem.host;
        o.port = config.siem.port;
        o.tcp = config.siem.tcp;
        o.maxQueue = static_cast<std::size_t>(config.siem.maxQueue);
        o.productVersion = VIGIL_GATEWAY_VERSION;
        siem = std::make_shared<record::SiemStream>(o);
        observe::LogLine(observe::LogLevel::Info, "siem")
            .str("sink", config.siem.sink == config::SiemSettings::Sink::File     ? "file:" + config.siem.file.string()
                         : config.siem.sink == config::SiemSettings::Sink::Stdout ? std::string("stdout")
                                                                                   : (config.siem.tcp ? "tcp:" : "udp:") + config.siem.host + ":" +
                                                                                         std::to_string(config.siem.port));
    }
    chain::RecordingSetup recording;
    const bool strict = config.recording.durability == config::RecordingSettings::Durability::Strict;
    recording.durability = strict ? chain::SessionRecording::Durability::Strict : chain::SessionRecording::Durability::Relaxed;
    try {
        auto key = record::SigningKey::loadOrCreate(config.recording.keyFile);
        record::Recorder::Options options;
        options.checkpointEvery = static_cast<std::size_t>(config.recording.checkpointEvery);
        options.checkpointInterval = config.recording.checkpointInterval;
        options.retentionDays = config.recording.retentionDays;
        options.spin = strict ? config.recording.commitSpin : std::chrono::microseconds(0);
        if (siem) options.commitTap = [siem](const record::Event& e) { siem->publish(e); };
        auto store = std::make_unique<store::SqliteEventStore>(
            config.store.sqlitePath, strict ? store::SqliteStore::Durability::Full : store::SqliteStore::Durability::Normal);
        const auto publicKey = key.publicKeyPem();
        recording.recorder = std::make_shared<record::Recorder>(std::move(store), std::move(key), options);
        recording.evidence = std::make_shared<api::EvidenceApi>(config.store.sqlitePath, recording.recorder);
        // Read-only connections (never a write lock on an I/O thread); a failed read throws,
        // and the request is refused rather than given someone's session.
        auto sessions = std::make_shared<store::SessionReader>(config.store.sqlitePath);
        recording.sessionOwners = std::make_shared<chain::SessionOwners>(
            [sessions](const std::string& sessionId) -> std::optional<chain::SessionOwners::Stored> {
                auto row = sessions->sessionOwner(sessionId);
                if (!row) return std::nullopt;
                return chain::SessionOwners::Stored{std::move(row->subject), std::move(row->callerKey)};
            });
        recording.api = std::make_shared<api::RecordingApi>(
            config.store.sqlitePath, publicKey, [recorder = std::weak_ptr<record::Recorder>(recording.recorder)] {
                if (auto r = recorder.lock()) r->flush();
            });
    } catch (const std::exception& e) {
        observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", e.what());
        return 1;
    }
    observe::LogLine(observe::LogLevel::Info, "recording")
        .str("durability", strict ? "strict" : "relaxed")
        .str("key_id", recording.recorder->key().keyId())
        .str("key_file", config.recording.keyFile.string())
        .num("retention_days", config.recording.retentionDays)
        .num("interrupted_requests", static_cast<std::int64_t>(recording.recorder->interruptedAtStart()));
    recording.recorder->record(record::kGatewaySession, "gateway.started",
                               JsonObjectWriter()
                                   .str("version", VIGIL_GATEWAY_VERSION)
                                   .str("key_id", recording.recorder->key().keyId())
                                   .str("durability", strict ? "strict" : "relaxed")
                                   .take());
    // The review gate and the live event stream (docs/reviews.md).
    chain::ReviewSetup reviews;
    reviews.bus = std::make_shared<events::EventBus>(static_cast<std::size_t>(config.reviews.replayEvents));
    recording.recorder->setTap([bus = reviews.bus](const std::string& session, const std::string& type,
                                                   const std::string& payload) {
        if (!bus->watched(session)) return;
        std::string data = R"({"session_id":)";
        appendJsonString(data, session);
        data += R"(,"type":)";
        appendJsonString(data, type);
        data += R"(,"payload":)";
        data += payload;
        data += '}';
        bus->publish("session.event", data, session);
    });
    {
        review::ReviewManager::Options options;
        options.grantWindow = std::chrono::seconds(config.reviews.grantWindowSeconds);
        options.maxPending = static_cast<std::size_t>(config.reviews.maxPending);
        options.maxPendingPerRequester = static_cast<std::size_t>(config.reviews.maxPendingPerRequester);
        options.retention = std::chrono::hours(24) * config.recording.retentionDays;
        reviews.manager = std::make_shared<review::ReviewManager>(options, recording.recorder, reviews.bus);
        try {
            store::SqliteStore reader(config.store.sqlitePath);
            auto open = reader.openReviews();
            const auto path = config.store.sqlitePath;
            reviews.manager->start(open, [path](const std::string& id) -> std::optional<record::ReviewRow> {
                try {
                    thread_local std::unique_ptr<store::SqliteStore> store;
                    if (!store) store = std::make_unique<store::SqliteStore>(path);
                    return store->review(id);
                } catch (const std::exception&) {
                    return std::nullopt;
                }
            });
        } catch (const std::exception& e) {
            observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", std::string("reviews: ") + e.what());
            return 1;
        }
    }
    reviews.api = std::make_shared<api::ReviewApi>(reviews.manager);
    reviews.keepAlive = config.reviews.keepAlive;
    reviews.maxOutputBytes = static_cast<std::size_t>(config.reviews.maxOutputBytes);
    reviews.maxReplayBytes = static_cast<std::size_t>(config.reviews.maxQueuedBytes) / 2;
    reviews.sockets = std::make_shared<api::EventSocketQuota>(static_cast<std::size_t>(config.reviews.maxEventSocketsPerIdentity));
    if (policySource) {
        // Every policy in force is in the chain, text and all: evidence shows what decided.
        auto recordPolicy = [recorder = std::weak_ptr<record::Recorder>(recording.recorder)](
                                const std::shared_ptr<const policy::Policy>& p, std::string_view why) {
            auto r = recorder.lock();
            if (!r) return;
            r->record(record::kGatewaySession, "policy.loaded",
                      JsonObjectWriter().str("version", p->version).str("file", p->file.string()).str("trigger", why).str("text", p->source).take());
        };
        recordPolicy(policySource->current(), "start");
        policySource->onLoaded([recordPolicy](const std::shared_ptr<const policy::Policy>& p) { recordPolicy(p, "reload"); });
        policySource->start(config.policy->watch, config.policy->poll);
    }
    auto pipeline = std::make_shared<chain::Pipeline>(shared, metrics, tokens, apiKeys, policySource, usage, recording,
                                                      reviews);
    {
        std::string problem;
        auto maskingKey = mask::loadOrCreateHashKey(config.masking.keyFile.string(), problem);
        if (maskingKey.empty()) {
            observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", problem);
            return 1;
        }
        pipeline->setMaskingKey(std::move(maskingKey));
    }

    net::HttpServer server(serverOptions(config), pipeline);
    std::vector<net::BoundListener> bound;
    try {
        bound = server.bind();
    } catch (const std::exception& e) {
        observe::LogLine(observe::LogLevel::Error, "cannot start").str("error", e.what());
        return 1;
    }
    for (const auto& c : config.connections) {
        observe::LogLine(observe::LogLevel::Info, "connection")
            .str("name", c.name)
            .str("base_url", c.baseUrl.text)
            .flag("default", &c == &config.connections[config.defaultConnection]);
    }
    for (const auto& issuer : issuers) {
        observe::LogLine(observe::LogLevel::Info, "issuer")
            .str("issuer", issuer->config().issuer)
            .str("discovery", issuer->config().discoveryUrl);
        issuer->start();
    }
    observe::LogLine(observe::LogLevel::Info, "store").str("sqlite", config.store.sqlitePath.string());
    for (const auto& b : bound) {
        observe::LogLine(observe::LogLevel::Info, "listening").str("url", b.url);
    }
    server.run();
    reviews.manager->stop();
    recording.recorder->record(record::kGatewaySession, "gateway.stopped", "{}");
    return 0;
}

}  // namespace vigil::app
