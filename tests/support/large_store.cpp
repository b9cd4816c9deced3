#include "large_store.h"

#include <QDateTime>
#include <QFile>

#include <memory>
#include <string>

#include "record/recorder.h"
#include "record/signing_key.h"
#include "store/sqlite_store.h"

namespace vigil::test {

bool recordLargeSessions(const QString& dbPath, const QString& keyPath, int sessions, int bytes) {
    std::string words;
    while (words.size() < static_cast<std::size_t>(bytes)) words += "the quarterly numbers for the northern region ";
    auto key = record::SigningKey::loadOrCreate(keyPath.toStdString());
    record::Recorder recorder(std::make_unique<store::SqliteEventStore>(dbPath.toStdString()), std::move(key), {});
    const auto now = QDateTime::currentMSecsSinceEpoch() * 1000;
    for (int i = 0; i < sessions; ++i) {
        const auto session = "large-" + std::to_string(i);
        record::RequestIndex index;
        index.kind = record::RequestIndex::Kind::Begin;
        index.requestId = "request-" + std::to_string(i);
        index.sessionId = session;
        index.startedMicros = now;
        index.method = "POST";
        index.path = "/v1/chat/completions";
        index.subject = "apikey:alice";
        index.authMethod = "api_key";
        index.connection = "mock";
        index.model = "mock-gpt";
        index.decision = "allow";
        const auto payload = "{\"request_id\":\"request-" + std::to_string(i) + "\",\"body\":\"" + words + "\"}";
        recorder.record(session, "request.received", payload, index);
    }
    return recorder.flush();
}

long long peakMemoryKb() {
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly)) return -1;
    for (const auto& line : status.readAll().split('\n')) {
        if (line.startsWith("VmHWM:")) return line.mid(6).trimmed().split(' ').first().toLongLong();
    }
    return -1;
}

bool resetPeakMemory() {
    QFile clear(QStringLiteral("/proc/self/clear_refs"));
    return clear.open(QIODevice::WriteOnly) && clear.write("5") == 1;
}

}  // namespace vigil::test
