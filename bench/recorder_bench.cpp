// Recorder benchmark: the recorder alone, on SQLite with strict durability (synchronous=FULL:
// every commit is fsynced), events of 1 KB.
//   throughput  events/s when producers keep it busy: each event counts once its commit is
//               durable (its callback said so); target >= 20,000 events/s
//   latency     one event at a time (c=1): time from record() to its durable callback,
//               printed beside this machine's fsync latency measured in the same run
//   index       the sessions index alone: microseconds per request, requests written in
//               index transactions of 500 (50 ms at 10,000 req/s), each request's begin and
//               end in the same one, as under load
//   purge       a retention purge of `--purge-events` old events (default 120,000: requests
//               of 6 events of 1 KB, with their index rows; as many recent ones are kept)
//               while events keep arriving one at a time (c=1): how long the purge takes
//               and how long an event waited for its commit meanwhile (p50, p99, max)
// `--fsync-only DIR` prints just the fsync p50 of DIR (used by proxy_bench.sh).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "record/recorder.h"
#include "record/signing_key.h"
#include "record/verifier.h"
#include "store/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Appends 4 KB and fdatasyncs, like a WAL commit: the machine's own durability cost.
std::vector<double> measureFsync(const std::filesystem::path& dir, int rounds) {
    const auto file = dir / "fsync-probe";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        std::perror("fsync probe");
        std::exit(1);
    }
    std::vector<char> block(4096, 'x');
    std::vector<double> micros;
    for (int i = 0; i < rounds; ++i) {
        const auto start = Clock::now();
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0) {
            std::perror("fsync probe");
            std::exit(1);
        }
        micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    ::close(fd);
    std::filesystem::remove(file);
    return micros;
}

std::string payloadOf(std::size_t bytes) {
    std::string p = "{\"offset_us\":12345,\"data\":\"";
    while (p.size() + 2 < bytes) p += static_cast<char>('a' + p.size() % 26);
    p += "\"}";
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path dir;
    bool fsyncOnly = false;
    int seconds = 5;
    std::int64_t purgeEvents = 120'000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--fsync-only" && i + 1 < argc) {
            fsyncOnly = true;
            dir = argv[++i];
        } else if (arg == "--dir" && i + 1 < argc) {
            dir = argv[++i];
        } else if (arg == "--seconds" && i + 1 < argc) {
            seconds = std::max(1, std::atoi(argv[++i]));
        } else if (arg == "--purge-events" && i + 1 < argc) {
            purgeEvents = std::max(1000LL, std::atoll(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: vigil-recorder-bench [--dir DIR] [--seconds N] [--purge-events N] | --fsync-only DIR\n");
            return 2;
        }
    }
    if (fsyncOnly) {
        const auto f = measureFsync(dir, 200);
        std::printf("%.3f\n", percentile(f, 0.5) / 1000.0);  // milliseconds
        return 0;
    }
    bool ownDir = false;
    if (dir.empty()) {
        char pattern[] = "/tmp/vigil-recorder-bench.XXXXXX";
        if (::mkdtemp(pattern) == nullptr) return 1;
        dir = pattern;
        ownDir = true;
    }
    const auto db = dir / "bench.db";
    std::filesystem::remove(db);

    const auto fsync = measureFsync(dir, 300);
    std::printf("recorder_bench: SQLite WAL, synchronous=FULL, events of 1 KB, in %s\n", dir.c_str());
    std::printf("fsync (4 KB append + fdatasync) on this filesystem: p50 %.1f us, p99 %.1f us\n",
                percentile(fsync, 0.5), percentile(fsync, 0.99));

    auto key = vigil::record::SigningKey::generate();
    const auto pem = key.publicKeyPem();
    std::int64_t recorded = 0;
    {
        vigil::record::Recorder::Options options;
        vigil::record::Recorder recorder(std::make_unique<vigil::store::SqliteEventStore>(db), std::move(key), options);
        const std::string payload = payloadOf(1024);

        // Latency at c=1: one event, wait until it is durable, the next.
        std::vector<double> single;
        for (int i = 0; i < 300; ++i) {
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
            const auto start = Clock::now();
            recorder.record("latency-session", "response.chunk", payload, [&](bool) {
                std::lock_guard lock(m);
                done = true;
                cv.notify_one();
            });
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return done; });
            single.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        }
        recorded += 300;
        const double singleP50 = percentile(single, 0.5);
        std::printf("latency c=1 (record -> durable callback): p50 %.1f us, p99 %.1f us; above fsync p50: %.1f us\n",
                    singleP50, percentile(single, 0.99), singleP50 - percentile(fsync, 0.5));

        // Throughput: 4 producer threads, each keeping up to 512 events in flight (as
        // many concurrent requests would), for `seconds`.
        std::atomic<std::int64_t> durable{0};
        std::atomic<bool> stop{false};
        std::vector<std::thread> producers;
        const auto start = Clock::now();
        for (int t = 0; t < 4; ++t) {
            producers.emplace_back([&, t] {
                std::atomic<int> inFlight{0};
                const std::string session = "session-" + std::to_string(t);
                while (!stop.load(std::memory_order_relaxed)) {
                    if (inFlight.load(std::memory_order_relaxed) >= 512) {
                        std::this_thread::yield();
                        continue;
                    }
                    inFlight.fetch_add(1, std::memory_order_relaxed);
                    recorder.record(session, "response.chunk", payload, [&](bool ok) {
                        if (ok) durable.fetch_add(1, std::memory_order_relaxed);
                        inFlight.fetch_sub(1, std::memory_order_relaxed);
                    });
                }
                while (inFlight.load() > 0) std::this_thread::yield();
            });
        }
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        stop = true;
        for (auto& p : producers) p.join();
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const double rate = static_cast<double>(durable.load()) / elapsed;
        recorded += durable.load();
        std::printf("throughput: %lld events durable in %.2f s = %.0f events/s (target >= 20000)  %s\n",
                    static_cast<long long>(durable.load()), elapsed, rate, rate >= 20000 ? "PASS" : "FAIL");
    }
    {
        // The index alone, into the same database (as the gateway writes it).
        vigil::store::SqliteEventStore store(db);
        constexpr int kBatches = 200, kPerBatch = 500;
        std::int64_t seq = 1'000'000'000;
        const std::int64_t started = 1'800'000'000'000'000;
        std::vector<double> perRequest;
        for (int b = 0; b < kBatches; ++b) {
            vigil::record::Batch batch;
            batch.synced = false;
            for (int i = 0; i < kPerBatch; ++i) {
                vigil::record::RequestIndex begin;
                begin.seq = ++seq;
                begin.requestId = "req-" + std::to_string(seq) + "-0123456789abcdef";
                begin.sessionId = "sess-" + std::to_string(seq) + "-0123456789abcdef";
                begin.startedMicros = started + seq;
                begin.method = "POST";
                begin.path = "/v1/chat/completions";
                begin.subject = "apikey:bench-" + std::to_string(seq % 7);
                begin.owner = begin.subject;
                begin.authMethod = "api_key";
                begin.connection = "openai";
                begin.model = "gpt-4o-mini";
                begin.decision = "allow";
                begin.rules = "(default)";
                auto end = begin;
                end.kind = vigil::record::RequestIndex::Kind::End;
                end.seq = seq + 5;
                end.endedMicros = begin.startedMicros + 900;
                end.status = 200;
                end.outcome = "completed";
                end.requestBytes = 180;
                end.responseBytes = 2048;
                end.durationMicros = 900;
                batch.index.push_back(std::move(begin));
                batch.index.push_back(std::move(end));
                seq += 5;
            }
            const auto start = Clock::now();
            store.append(batch);
            perRequest.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kPerBatch);
        }
        std::printf("index: %d requests in transactions of %d: p50 %.2f us per request (p90 %.2f)\n", kBatches * kPerBatch,
                    kPerBatch, percentile(perRequest, 0.5), percentile(perRequest, 0.9));
    }
    {
        // A retention purge under traffic, in its own database: old events fill it, then the
        // purge runs while one event at a time is recorded and waited for.
        const auto purgeDb = dir / "purge.db";
        std::filesystem::remove(purgeDb);
        std::atomic<std::int64_t> now{1'800'000'000'000'000};
        const std::int64_t day = 86'400'000'000;
        vigil::record::Recorder::Options options;
        options.retentionDays = 30;
        options.purgeCheckInterval = std::chrono::hours(24 * 365);  // only when asked
        auto purgeKey = vigil::record::SigningKey::generate();
        vigil::record::Recorder recorder(std::make_unique<vigil::store::SqliteEventStore>(purgeDb), std::move(purgeKey),
                                         options, [&] { return now.load(); });
        const std::string payload = payloadOf(1024);
        // Requests of 6 events each (received, 4 chunks, completed), with their index rows:
        // `purgeEvents` old ones, then as many recent ones that the purge keeps.
        std::int64_t requestNo = 0;
        auto fill = [&](std::int64_t events) {
            for (std::int64_t i = 0; i < events / 6; ++i) {
                const auto n = std::to_string(++requestNo);
                vigil::record::RequestIndex begin;
                begin.requestId = "req-" + n + "-0123456789abcdef";
                begin.sessionId = "sess-" + n + "-0123456789abcdef";
                begin.startedMicros = now.load();
                begin.method = "POST";
                begin.path = "/v1/chat/completions";
                begin.subject = "apikey:bench-" + std::to_string(requestNo % 7);
                begin.owner = begin.subject;
                begin.authMethod = "api_key";
                begin.connection = "openai";
                begin.model = "gpt-4o-mini";
                begin.decision = "allow";
                begin.rules = "(default)";
                auto end = begin;
                end.kind = vigil::record::RequestIndex::Kind::End;
                end.endedMicros = now.load() + 900;
                end.status = 200;
                end.outcome = "completed";
                recorder.recordSoon(begin.sessionId, "request.received", payload, begin);
                for (int c = 0; c < 4; ++c) recorder.recordSoon(begin.sessionId, "response.chunk", payload);
                recorder.recordSoon(begin.sessionId, "request.completed", R"({"status":200})", end);
                if (i % 2'000 == 1'999 && !recorder.flush()) return false;
                now += 1000;
            }
            return recorder.flush();
        };
        now -= 40 * day;
        if (!fill(purgeEvents)) return 1;
        now += 40 * day;
        if (!fill(purgeEvents)) return 1;
        std::atomic<bool> purging{true};
        std::vector<double> waits;
        std::thread traffic([&] {
            while (purging.load()) {
                std::mutex m;
                std::condition_variable cv;
                bool done = false;
                const auto start = Clock::now();
                recorder.record("during-purge", "response.chunk", payload, [&](bool) {
                    std::lock_guard lock(m);
                    done = true;
                    cv.notify_one();
                });
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return done; });
                waits.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        const auto started = Clock::now();
        const bool purged = recorder.purgeOlderThan(now.load() - 30 * day);
        const double took = std::chrono::duration<double>(Clock::now() - started).count();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        purging = false;
        traffic.join();
        std::printf("purge: %lld of %lld events in %.2f s (%s); %zu events recorded meanwhile, commit wait p50 %.1f us, "
                    "p99 %.1f us, max %.1f ms\n",
                    static_cast<long long>(purgeEvents / 6 * 6), static_cast<long long>(purgeEvents / 6 * 12), took, purged ? "ok" : "FAILED", waits.size(), percentile(waits, 0.5),
                    percentile(waits, 0.99), waits.empty() ? 0.0 : *std::max_element(waits.begin(), waits.end()) / 1000.0);
    }
    const auto verified = vigil::record::verifyDatabase(db, pem);
    std::printf("chain check: %s, %lld events, signed up to %lld\n", verified.ok ? "OK" : verified.problem.c_str(),
                static_cast<long long>(verified.events), static_cast<long long>(verified.signedUpTo));
    std::error_code ec;
    const auto wal = std::filesystem::file_size(db.string() + "-wal", ec);
    std::printf("database: %.1f MB (with its WAL) for %lld events\n",
                static_cast<double>(std::filesystem::file_size(db) + (ec ? 0 : wal)) / 1e6, static_cast<long long>(recorded));
    if (ownDir) std::filesystem::remove_all(dir);
    return verified.ok ? 0 : 1;
}
