// Evidence bundles: the real gateway records traffic with reviews (hold and ticket), stops;
// `vigil export` writes the bundle from its database and `vigil verify-bundle` checks it.
// A good bundle verifies; one changed byte in any file, a removed session, a swapped
// manifest or a wrong key each fail with a message naming the problem; a self-approved
// review and a reviewed request forwarded without approval, forged into the store with the
// gateway's own key (as a compromised gateway would), fail the segregation-of-duties checks.

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QTcpSocket>
#include <QTest>

#include "large_store.h"
#include "managed_process.h"
#include "raw_http.h"
#include "record/recorder.h"
#include "record/signing_key.h"
#include "store/evidence_export.h"
#include "store/sqlite_store.h"
#include "vigil/zip.h"

#include <sqlite3.h>

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-evidence-8181");

const char* const kPolicy =
    "{\"default_action\": \"deny\", \"rules\": [\n"
    "  {\"id\": \"requesters\", \"match\": {\"roles\": [\"requester\"]}, \"action\": \"allow\"},\n"
    "  {\"id\": \"falcon\", \"if\": {\"keywords\": {\"words\": [\"project falcon\"]}}, \"action\": \"review\",\n"
    "   \"review\": {\"approver_roles\": [\"approver\"]}},\n"
    "  {\"id\": \"ticket\", \"if\": {\"keywords\": {\"words\": [\"ticket please\"]}}, \"action\": \"review\",\n"
    "   \"review\": {\"approver_roles\": [\"approver\"], \"mode\": \"ticket\"}}]}\n";

struct Run {
    int exitCode = -1;
    QString out;
};

Run runVigil(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(VIGIL_VERIFY_BIN), args);
    if (!p.waitForFinished(60000)) return {};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError())};
}

// Runs the vigil CLI as runVigil does, and reports the peak resident memory of that process
// alone, in KiB: what a third party checking a bundle needs. Measured by python3 around it
// (the child's ru_maxrss; started from this test directly, it would carry this process's
// own peak across the exec).
struct MeasuredRun {
    int exitCode = -1;
    QString out;
    long long peakKb = -1;
};
MeasuredRun runVigilMeasured(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral("python3"),
            QStringList{QStringLiteral("-c"),
                        QStringLiteral("import resource, subprocess, sys\n"
                                       "code = subprocess.run(sys.argv[1:]).returncode\n"
                                       "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
                                       "sys.exit(code)\n"),
                        QStringLiteral(VIGIL_VERIFY_BIN)} +
                args);
    if (!p.waitForFinished(120000)) return {};
    MeasuredRun run{p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), -1};
    for (const auto& line : QString::fromUtf8(p.readAllStandardError()).split(QLatin1Char('\n'))) {
        if (line.startsWith(QStringLiteral("peak-kb "))) {
            run.peakKb = line.mid(8).toLongLong();
        } else {
            run.out += line + QLatin1Char('\n');
        }
    }
    return run;
}

bool copyDir(const QString& from, const QString& to) {
    QDir().mkpath(to);
    for (const auto& info : QDir(from).entryInfoList(QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot)) {
        const auto target = to + QLatin1Char('/') + info.fileName();
        if (info.isDir()) {
            if (!copyDir(info.filePath(), target)) return false;
        } else if (!QFile::copy(info.filePath(), target)) {
            return false;
        }
    }
    return true;
}

QByteArray readAll(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// RFC 4180, as a spreadsheet reads it: quoted cells may hold commas, quotes ("") and line breaks.
QList<QStringList> parseCsv(const QByteArray& bytes) {
    QList<QStringList> rows;
    QStringList row;
    QString cell;
    bool quoted = false;
    const auto text = QString::fromUtf8(bytes);
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (quoted) {
            if (c == QLatin1Char('"') && i + 1 < text.size() && text[i + 1] == QLatin1Char('"')) {
                cell += c;
                ++i;
            } else if (c == QLatin1Char('"')) {
                quoted = false;
            } else {
                cell += c;
            }
        } else if (c == QLatin1Char('"')) {
            quoted = true;
        } else if (c == QLatin1Char(',')) {
            row.append(cell);
            cell.clear();
        } else if (c == QLatin1Char('\n')) {
            row.append(cell);
            rows.append(row);
            row.clear();
            cell.clear();
        } else {
            cell += c;
        }
    }
    return rows;
}

bool writeAll(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

}  // namespace

class TestEvidence : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString pubkey_;
    QString heldId_;  // the held review bob approved
    QString bundle_;
    QString from_, to_;

    QString db() const { return dir_.filePath(QStringLiteral("vigil.db")); }
    QString path(const QString& name) const { return dir_.filePath(name); }

    // A copy of the good bundle to tamper with.
    QString copyOfBundle(const QString& name) {
        const auto target = path(name);
        QDir(target).removeRecursively();
        return copyDir(bundle_, target) ? target : QString();
    }

    // The store's sessions index covers every committed event (read-only look at the file).
    bool indexCaughtUp() {
        sqlite3* h = nullptr;
        if (sqlite3_open_v2(db().toUtf8().constData(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            sqlite3_close(h);
            return false;
        }
        sqlite3_stmt* st = nullptr;
        bool caughtUp = false;
        if (sqlite3_prepare_v2(h, "SELECT (SELECT through_seq FROM index_state) >= (SELECT max(seq) FROM events)", -1, &st,
                               nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            caughtUp = sqlite3_column_int(st, 0) == 1;
        }
        sqlite3_finalize(st);
        sqlite3_close(h);
        return caughtUp;
    }

    // The payloads of the evidence.exported events in the store, each with its "(seq)"
    // (read-only look at the file).
    static bool execSql(const QString& database, const std::string& sql) {
        sqlite3* h = nullptr;
        const bool ok = sqlite3_open_v2(database.toUtf8().constData(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
                        sqlite3_busy_timeout(h, 5000) == SQLITE_OK && sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
        sqlite3_close(h);
        return ok;
    }

    QList<QJsonObject> recordedExports() {
        QList<QJsonObject> exports;
        sqlite3* h = nullptr;
        if (sqlite3_open_v2(db().toUtf8().constData(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
            sqlite3_stmt* st = nullptr;
            if (sqlite3_prepare_v2(h, "SELECT payload, seq FROM events WHERE type = 'evidence.exported' ORDER BY seq", -1, &st, nullptr) == SQLITE_OK) {
                while (sqlite3_step(st) == SQLITE_ROW) {
                    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
                    auto payload = QJsonDocument::fromJson(QByteArray(text)).object();
                    payload.insert(QStringLiteral("(seq)"), sqlite3_column_int64(st, 1));
                    exports.append(payload);
                }
            }
            sqlite3_finalize(st);
        }
        sqlite3_close(h);
        return exports;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        from_ = QDateTime::currentDateTimeUtc().addSecs(-60).toString(Qt::ISODate);
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        const auto alice = createApiKey(db(), QStringLiteral("alice"), QStringLiteral("requester"));
        const auto bob = createApiKey(db(), QStringLiteral("bob"), QStringLiteral("approver"));
        QFile policy(path(QStringLiteral("policy.json")));
        QVERIFY(policy.open(QIODevice::WriteOnly));
        policy.write(kPolicy);
        policy.close();
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), db()}});
        auto gateway = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway);
        const auto url = gateway->url();
        auto post = [&](const QString& key, const QString& prompt, const QByteArray& session = {}) {
            QList<QPair<QByteArray, QByteArray>> headers{{"Authorization", "Bearer " + key.toLatin1()}, {"Content-Type", "application/json"}};
            if (!session.isEmpty()) headers.append({"X-Vigil-Session", session});
            return httpRequest(url, "POST", "/v1/chat/completions", chatBody(prompt), headers);
        };
        for (int i = 0; i < 3; ++i) QCOMPARE(post(alice, QStringLiteral("hello %1").arg(i)).status, 200);
        // A held request, approved by bob.
        RawHttpConnection held{QUrl(url)};
        const auto body = chatBody(QStringLiteral("Project Falcon numbers"));
        QVERIFY(held.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice.toLatin1() +
                             "\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body));
        QString heldId;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                const auto r = httpRequest(url, "GET", "/api/reviews?state=pending", {}, {{"Authorization", "Bearer " + bob.toLatin1()}});
                const auto list = r.json().value(QStringLiteral("reviews")).toArray();
                if (list.isEmpty()) return false;
                heldId = list.first().toObject().value(QStringLiteral("id")).toString();
                return true;
            }(),
            5000);
        // (A reason a spreadsheet would run as a formula, with a separator, a comma and a line break.)
        QCOMPARE(httpRequest(url, "POST", "/api/reviews/" + heldId.toLatin1() + "/approve",
                             R"({"reason":"=1+1 looks fine | apikey:mallory, checked\nby phone"})",
                             {{"Authorization", "Bearer " + bob.toLatin1()}})
                     .status,
                 200);
        QCOMPARE(held.readResponse(10000).status, 200);
        heldId_ = heldId;
        // A ticket, approved, then released to the same request sent again.
        const auto ticket = post(alice, QStringLiteral("ticket please: rotate keys"));
        QCOMPARE(ticket.status, 403);
        const auto ticketId = ticket.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("review_id")).toString();
        QCOMPARE(httpRequest(url, "POST", "/api/reviews/" + ticketId.toLatin1() + "/approve", {}, {{"Authorization", "Bearer " + bob.toLatin1()}}).status,
                 200);
        QCOMPARE(post(alice, QStringLiteral("ticket please: rotate keys")).status, 200);
        QCOMPARE(gateway->terminate(), 0);  // the last events get their checkpoint
        to_ = QDateTime::currentDateTimeUtc().addSecs(60).toString(Qt::ISODate);

        // The public key, exported as an auditor would get it.
        QProcess cli;
        pubkey_ = path(QStringLiteral("gateway-public.pem"));
        cli.start(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("recording"), QStringLiteral("public-key"), QStringLiteral("--config"),
                                                       path(QStringLiteral("gateway.json")), QStringLiteral("--out"), pubkey_});
        QVERIFY(cli.waitForFinished(15000));
        QCOMPARE(cli.exitCode(), 0);

        bundle_ = path(QStringLiteral("bundle"));
        const auto r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), to_,
                              QStringLiteral("--out"), bundle_, QStringLiteral("--by"), QStringLiteral("audrey (compliance)")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out));
        // The export itself is recorded in the store's chain: who, which range, how.
        const auto exports = recordedExports();
        QCOMPARE(exports.size(), 1);
        QCOMPARE(exports.first().value(QStringLiteral("by")).toString(), QStringLiteral("audrey (compliance)"));
        QCOMPARE(exports.first().value(QStringLiteral("method")).toString(), QStringLiteral("cli"));
        QCOMPARE(exports.first().value(QStringLiteral("from")).toString(), from_);
        QCOMPARE(exports.first().value(QStringLiteral("to")).toString(), to_);
        QVERIFY(exports.first().value(QStringLiteral("(seq)")).toInteger() > 0);
        // The chain with the CLI's event and checkpoint still verifies against the gateway's key.
        const auto v = runVigil({QStringLiteral("verify"), QStringLiteral("--db"), db(), QStringLiteral("--pubkey"), pubkey_});
        QVERIFY2(v.exitCode == 0, qPrintable(v.out));
    }

    void aGoodBundleVerifies() {
        const auto r = runVigil({QStringLiteral("verify-bundle"), bundle_, QStringLiteral("--pubkey"), pubkey_});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out));
        QVERIFY(r.out.contains(QStringLiteral("OK: every check holds")));
        QVERIFY(r.out.contains(QStringLiteral("2 reviewed requests forwarded")));
        QVERIFY(r.out.contains(QStringLiteral("filters: none (every session with a request in the range)")));
        const auto manifest = QJsonDocument::fromJson(readAll(bundle_ + QStringLiteral("/manifest.json"))).object();
        QCOMPARE(manifest.value(QStringLiteral("generated_by")).toString(), QStringLiteral("audrey (compliance)"));
        QCOMPARE(manifest.value(QStringLiteral("counts")).toObject().value(QStringLiteral("sessions")).toInt(), 6);
        QCOMPARE(manifest.value(QStringLiteral("counts")).toObject().value(QStringLiteral("reviews")).toInt(), 2);
        QCOMPARE(manifest.value(QStringLiteral("counts")).toObject().value(QStringLiteral("policies")).toInt(), 1);
        QVERIFY(QDir(bundle_ + QStringLiteral("/policies")).entryList(QDir::Files).size() == 1);
        QCOMPARE(manifest.value(QStringLiteral("counts")).toObject().value(QStringLiteral("approvals")).toInt(), 2);
        // One row per review; one row per approval, its reason in one cell whatever it holds.
        const auto reviews = parseCsv(readAll(bundle_ + QStringLiteral("/reviews.csv")));
        QCOMPARE(reviews.size(), 3);  // header and two reviews
        QCOMPARE(reviews[0].join(QLatin1Char(',')),
                 QStringLiteral("review,kind,mode,state,session,requester,rules,quorum,approvals,denied_by,denied_at,denial_reason,created_at,decided_at"));
        for (const auto& row : reviews) QCOMPARE(row.size(), reviews[0].size());
        QCOMPARE(reviews[1][0], heldId_);
        QCOMPARE(reviews[1][3], QStringLiteral("approved"));
        QCOMPARE(reviews[1][5], QStringLiteral("apikey:alice"));
        QCOMPARE(reviews[1][6], QStringLiteral("falcon"));
        QCOMPARE(reviews[1][8], QStringLiteral("1"));
        const auto approvals = parseCsv(readAll(bundle_ + QStringLiteral("/approvals.csv")));
        QCOMPARE(approvals.size(), 3);  // header and two approvals
        QCOMPARE(approvals[0].join(QLatin1Char(',')), QStringLiteral("review,approver,issuer,roles,approved_at,reason"));
        for (const auto& row : approvals) QCOMPARE(row.size(), approvals[0].size());
        QCOMPARE(approvals[1][0], heldId_);
        QCOMPARE(approvals[1][1], QStringLiteral("apikey:bob"));
        QCOMPARE(approvals[1][3], QStringLiteral("approver"));
        QVERIFY(QDateTime::fromString(approvals[1][4], Qt::ISODateWithMs).isValid());
        // Quoted, not a formula; the rest of the reason intact.
        QCOMPARE(approvals[1][5], QStringLiteral("'=1+1 looks fine | apikey:mallory, checked\nby phone"));
        QCOMPARE(approvals[2][1], QStringLiteral("apikey:bob"));
        QCOMPARE(approvals[2][5], QString());
        // The policy text is there, byte for byte.
        const auto policyFile = QDir(bundle_ + QStringLiteral("/policies")).entryInfoList(QDir::Files).first().filePath();
        QCOMPARE(readAll(policyFile), QByteArray(kPolicy));
    }

    void everyTamperingIsNamed_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        for (const char* f : {"events.jsonl", "sessions.jsonl", "reviews.csv", "approvals.csv", "checkpoints.jsonl", "public-key.pem"}) {
            QTest::newRow(f) << QString::fromLatin1(f) << QString::fromLatin1(f) + QStringLiteral(": its SHA-256 differs");
        }
    }
    void everyTamperingIsNamed() {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        const auto copy = copyOfBundle(QStringLiteral("tamper-") + file);
        auto bytes = readAll(copy + QLatin1Char('/') + file);
        QVERIFY(bytes.size() > 40);
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);  // one changed byte
        QVERIFY(writeAll(copy + QLatin1Char('/') + file, bytes));
        const auto r = runVigil({QStringLiteral("verify-bundle"), copy, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(expected), qPrintable(r.out));
    }

    // The export reads one snapshot: a retention purge (here: every review deleted) committed
    // while it runs does not reach the bundle, whose reviews still match its events.
    void anExportReadsOneSnapshot() {
        const auto copy = path(QStringLiteral("snapshot.db"));
        QVERIFY(execSql(db(), "VACUUM INTO '" + copy.toStdString() + "'"));
        QVERIFY(execSql(copy, "PRAGMA journal_mode=WAL"));  // as the gateway's store: readers and a writer at once
        auto key = vigil::record::SigningKey::loadOrCreate(path(QStringLiteral("signing-key.pem")).toStdString());
        vigil::store::EvidenceRequest ask;
        ask.fromMicros = QDateTime::fromString(from_, Qt::ISODate).toMSecsSinceEpoch() * 1000;
        ask.toMicros = QDateTime::fromString(to_, Qt::ISODate).toMSecsSinceEpoch() * 1000;
        ask.generatedBy = "tst_evidence";
        bool purged = false;
        ask.snapshotTaken = [&] { purged = execSql(copy, "DELETE FROM reviews"); };
        const auto out = path(QStringLiteral("snapshot-bundle"));
        const auto r = vigil::store::exportEvidence(copy.toStdString(), key, ask, out.toStdString());
        QVERIFY2(r.ok, r.error.c_str());
        QVERIFY(purged);  // the purge did commit, during the export
        QCOMPARE(r.reviews, 2);  // the held request's review and the ticket's
        QFile csv(out + QStringLiteral("/reviews.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QVERIFY(csv.readAll().contains(heldId_.toLatin1()));
        const auto v = runVigil({QStringLiteral("verify-bundle"), out, QStringLiteral("--pubkey"), pubkey_});
        QVERIFY2(v.exitCode == 0, qPrintable(v.out));
    }

    void aRemovedSessionIsNamed() {
        const auto copy = copyOfBundle(QStringLiteral("removed-session"));
        auto lines = readAll(copy + QStringLiteral("/sessions.jsonl")).split('\n');
        const auto removed = QJsonDocument::fromJson(lines.takeFirst()).object().value(QStringLiteral("id")).toString();
        QVERIFY(writeAll(copy + QStringLiteral("/sessions.jsonl"), lines.join('\n')));
        const auto r = runVigil({QStringLiteral("verify-bundle"), copy, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("sessions.jsonl: its SHA-256 differs")), qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("events of session ") + removed + QStringLiteral(" are in the bundle, but the session is not listed")),
                 qPrintable(r.out));
    }

    // A member replaced by a FIFO, and one added: named, not read (a read would wait for ever).
    void aFifoInABundleIsNamedNotRead() {
        const auto copy = copyOfBundle(QStringLiteral("fifo"));
        QVERIFY(QFile::remove(copy + QStringLiteral("/sessions.jsonl")));
        QCOMPARE(QProcess::execute(QStringLiteral("mkfifo"), {copy + QStringLiteral("/sessions.jsonl"), copy + QStringLiteral("/extra.pipe")}), 0);
        const auto r = runVigil({QStringLiteral("verify-bundle"), copy, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("sessions.jsonl: not a regular file")), qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("extra.pipe: not a regular file, and not listed")), qPrintable(r.out));
    }

    void aSwappedManifestIsNamed() {
        // Another export (a narrower range) has a manifest and signature of its own.
        const auto other = path(QStringLiteral("other-bundle"));
        const auto e = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), to_,
                              QStringLiteral("--subject"), QStringLiteral("apikey:alice"), QStringLiteral("--decision"), QStringLiteral("review"),
                              QStringLiteral("--out"), other});
        QVERIFY2(e.exitCode == 0, qPrintable(e.out));
        const auto copy = copyOfBundle(QStringLiteral("swapped-manifest"));
        QVERIFY(QFile::remove(copy + QStringLiteral("/manifest.json")) && QFile::remove(copy + QStringLiteral("/manifest.sig")));
        QVERIFY(QFile::copy(other + QStringLiteral("/manifest.json"), copy + QStringLiteral("/manifest.json")));
        QVERIFY(QFile::copy(other + QStringLiteral("/manifest.sig"), copy + QStringLiteral("/manifest.sig")));
        auto r = runVigil({QStringLiteral("verify-bundle"), copy, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("differs from the manifest")), qPrintable(r.out));
        // The manifest alone swapped: its signature no longer matches.
        const auto copy2 = copyOfBundle(QStringLiteral("swapped-manifest-only"));
        QVERIFY(QFile::remove(copy2 + QStringLiteral("/manifest.json")));
        QVERIFY(QFile::copy(other + QStringLiteral("/manifest.json"), copy2 + QStringLiteral("/manifest.json")));
        r = runVigil({QStringLiteral("verify-bundle"), copy2, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("manifest.sig: the signature does not verify")), qPrintable(r.out));
    }

    // A crafted manifest (wrong types everywhere) fails with messages, never a crash.
    void aCraftedManifestFailsCleanly() {
        const auto copy = copyOfBundle(QStringLiteral("crafted"));
        QVERIFY(writeAll(copy + QStringLiteral("/manifest.json"),
                         R"({"format":"vigil.evidence.v1","files":5,"chain":"x","counts":[],"range":null,"key_id":7})"));
        const auto r = runVigil({QStringLiteral("verify-bundle"), copy, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("FAILED")), qPrintable(r.out));
        QVERIFY(r.out.contains(QStringLiteral("manifest.sig: the signature does not verify")));
    }

    void aWrongKeyIsNamed() {
        const auto other = vigil::record::SigningKey::generate();
        const auto pem = path(QStringLiteral("other-public.pem"));
        QVERIFY(writeAll(pem, QByteArray::fromStdString(other.publicKeyPem())));
        const auto r = runVigil({QStringLiteral("verify-bundle"), bundle_, QStringLiteral("--pubkey"), pem});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("does not verify with key")), qPrintable(r.out));
        QVERIFY(r.out.contains(QStringLiteral("checkpoint at event")));
    }

    // The gateway's API gives the same bundle as a ZIP, records the export, and checks who asks.
    void theApiExportsAZipThatVerifies() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        const auto audrey = createApiKey(db(), QStringLiteral("audrey"), QStringLiteral("auditor"));
        const auto eve = createApiKey(db(), QStringLiteral("eve"), QStringLiteral("requester"));
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), db()}});
        auto gateway = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway);
        const QByteArray query = "/api/evidence?from=" + from_.toLatin1() + "&to=" + QDateTime::currentDateTimeUtc().addSecs(60).toString(Qt::ISODate).toLatin1() +
                                 "&decision=review";
        const auto r = httpRequest(gateway->url(), "GET", query, {}, {{"Authorization", "Bearer " + audrey.toLatin1()}});
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("content-type"), QByteArray("application/zip"));
        QVERIFY(r.header("content-disposition").contains("vigil-evidence-"));
        QVERIFY(r.body.startsWith("PK\x03\x04"));
        const auto zip = path(QStringLiteral("api-bundle.zip"));
        QVERIFY(writeAll(zip, r.body));
        const auto v = runVigil({QStringLiteral("verify-bundle"), zip, QStringLiteral("--pubkey"), pubkey_});
        QVERIFY2(v.exitCode == 0, qPrintable(v.out));
        QVERIFY(v.out.contains(QStringLiteral("OK: every check holds")));
        // What the bundle holds is said: the filters it was made with.
        QVERIFY2(v.out.contains(QStringLiteral("filters: decision=review (the sessions with a request in the range that matches them)")),
                 qPrintable(v.out));
        // A damaged ZIP is named as such.
        auto damaged = r.body;
        damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x20);
        QVERIFY(writeAll(path(QStringLiteral("damaged.zip")), damaged));
        const auto d = runVigil({QStringLiteral("verify-bundle"), path(QStringLiteral("damaged.zip")), QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(d.exitCode, 1);
        QVERIFY2(d.out.contains(QStringLiteral("CRC")) || d.out.contains(QStringLiteral("differs")), qPrintable(d.out));
        // The export is in the chain: who, which range, which filters.
        const auto s = httpRequest(gateway->url(), "GET", "/api/sessions/gateway/events?limit=5000", {},
                                   {{"Authorization", "Bearer " + audrey.toLatin1()}});
        bool recorded = false;
        for (const auto& e : s.json().value(QStringLiteral("events")).toArray()) {
            const auto o = e.toObject();
            if (o.value(QStringLiteral("type")).toString() != QStringLiteral("evidence.exported")) continue;
            const auto p = o.value(QStringLiteral("payload")).toObject();
            recorded = p.value(QStringLiteral("by")).toString() == QStringLiteral("apikey:audrey") &&
                       p.value(QStringLiteral("filters")).toObject().value(QStringLiteral("decision")).toString() == QStringLiteral("review");
        }
        QVERIFY(recorded);
        // Who may, and bad parameters.
        QCOMPARE(httpRequest(gateway->url(), "GET", query, {}, {{"Authorization", "Bearer " + eve.toLatin1()}}).errorCode(),
                 QStringLiteral("role_not_allowed"));
        QCOMPARE(httpRequest(gateway->url(), "GET", "/api/evidence?from=" + from_.toLatin1(), {}, {{"Authorization", "Bearer " + audrey.toLatin1()}}).status, 400);
        QCOMPARE(httpRequest(gateway->url(), "GET", query + "&colour=red", {}, {{"Authorization", "Bearer " + audrey.toLatin1()}}).status, 400);
        QCOMPARE(httpRequest(gateway->url(), "GET", query + "&decision=maybe", {}, {{"Authorization", "Bearer " + audrey.toLatin1()}}).status, 400);
        // A repeated or empty filter is refused, naming it: it must not silently narrow or
        // widen what the bundle holds.
        for (const QByteArray& extra : {QByteArray("&subject=apikey:alice&subject=apikey:eve"), QByteArray("&subject="),
                                        QByteArray("&to=") + QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toLatin1()}) {
            const auto bad = httpRequest(gateway->url(), "GET", query + extra, {}, {{"Authorization", "Bearer " + audrey.toLatin1()}});
            QCOMPARE(bad.status, 400);
            QCOMPARE(bad.errorCode(), QStringLiteral("invalid_request"));
            const auto param = bad.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("param")).toString();
            QVERIFY2(param == QStringLiteral("subject") || param == QStringLiteral("to"), bad.body.constData());
        }
        QCOMPARE(gateway->terminate(), 0);
    }

    // A compromised gateway records a self-approved review and a reviewed request forwarded
    // without approval, with its own key: the chain is intact, the duties are not.
    void forgedViolationsFailTheDutyChecks() {
        {
            auto key = vigil::record::SigningKey::loadOrCreate(path(QStringLiteral("signing-key.pem")).toStdString());
            auto store = std::make_unique<vigil::store::SqliteEventStore>(db().toStdString());
            vigil::record::Recorder recorder(std::move(store), std::move(key), {});
            const auto now = QDateTime::currentMSecsSinceEpoch() * 1000;
            auto begin = [&](const std::string& session, const std::string& request) {
                vigil::record::RequestIndex index;
                index.kind = vigil::record::RequestIndex::Kind::Begin;
                index.requestId = request;
                index.sessionId = session;
                index.startedMicros = now;
                index.method = "POST";
                index.path = "/v1/chat/completions";
                index.subject = "apikey:alice";
                index.authMethod = "api_key";
                index.connection = "mock";
                index.model = "mock-gpt";
                index.decision = "review";
                index.rules = "falcon";
                recorder.record(session, "request.received", R"({"request_id":")" + request + R"("})", index);
                recorder.record(session, "decision", R"({"action":"review","rules":["falcon"],"policy_version":"sha256:x"})");
            };
            begin("forged-self", "forged-1");
            recorder.record("forged-self", "review.approved",
                            R"({"id":"rv_forged000000000000000000000001","requester":{"subject":"apikey:alice"},)"
                            R"("approvals":[{"subject":"apikey:alice"}],"quorum":1,"state":"approved"})");
            recorder.record("forged-self", "review.released", R"({"review_id":"rv_forged000000000000000000000001"})");
            recorder.record("forged-self", "upstream.started", R"({"connection":"mock"})");
            begin("forged-unapproved", "forged-2");
            recorder.record("forged-unapproved", "upstream.started", R"({"connection":"mock"})");
            // Released first, approved (by someone else) only afterwards; and released under
            // a review no event approves.
            begin("forged-late", "forged-3");
            recorder.record("forged-late", "review.released", R"({"review_id":"rv_forged000000000000000000000003"})");
            recorder.record("forged-late", "upstream.started", R"({"connection":"mock"})");
            recorder.record("forged-late", "review.approved",
                            R"({"id":"rv_forged000000000000000000000003","requester":{"subject":"apikey:alice"},)"
                            R"("approvals":[{"subject":"apikey:bob"}],"quorum":1,"state":"approved"})");
            // Two requests under one id (the caller chooses X-Request-Id): the first ends
            // before the second, which needed a review, is forwarded without one.
            begin("forged-twice", "forged-5");
            begin("forged-twice", "forged-5");
            recorder.record("forged-twice", "request.completed", R"({"request_id":"forged-5","status":200})");
            recorder.record("forged-twice", "upstream.started", R"({"request_id":"forged-5","connection":"mock"})");
            begin("forged-nowhere", "forged-4");
            recorder.record("forged-nowhere", "review.released", R"({"review_id":"rv_forged000000000000000000000004"})");
            recorder.record("forged-nowhere", "upstream.started", R"({"connection":"mock"})");
            QVERIFY(recorder.flush());
        }  // the recorder signs its last checkpoint as it closes
        const auto forged = path(QStringLiteral("forged-bundle"));
        const auto e = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"),
                              QDateTime::currentDateTimeUtc().addSecs(60).toString(Qt::ISODate), QStringLiteral("--out"), forged});
        QVERIFY2(e.exitCode == 0, qPrintable(e.out));
        const auto r = runVigil({QStringLiteral("verify-bundle"), forged, QStringLiteral("--pubkey"), pubkey_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("review rv_forged000000000000000000000001: approved by its own requester 'apikey:alice'")),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("session forged-unapproved: a request that needed a review was forwarded without an approval")),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("session forged-late: released under review rv_forged000000000000000000000003, approved only later")),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("session forged-nowhere: released under review rv_forged000000000000000000000004, "
                                               "whose approval is not in the bundle")),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("session forged-twice: a request that needed a review was forwarded without an approval")),
                 qPrintable(r.out));
        QCOMPARE(r.out.count(QStringLiteral("VIOLATION:")), 5);  // and nothing else
        QVERIFY(!r.out.contains(QStringLiteral("SHA-256 differs")));  // the files and the chain themselves are intact
    }

    // A store a gateway is recording into has one chain writer: the CLI (whose export must be
    // recorded in that chain) and a second gateway are refused, nothing is written; the live
    // store is exported through the gateway's API, and the CLI works again once it stopped.
    void aLiveStoreHasOneChainWriter() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        const auto frank = createApiKey(db(), QStringLiteral("frank"), QStringLiteral("requester"));
        const auto audrey = createApiKey(db(), QStringLiteral("audrey-live"), QStringLiteral("auditor"));
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), db()}});
        auto gateway = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway);
        QCOMPARE(httpRequest(gateway->url(), "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")),
                             {{"Authorization", "Bearer " + frank.toLatin1()}, {"Content-Type", "application/json"}})
                     .status,
                 200);
        const auto exportsBefore = recordedExports().size();
        const auto out = path(QStringLiteral("live-bundle"));
        const QString until = QDateTime::currentDateTimeUtc().addSecs(60).toString(Qt::ISODate);
        auto e = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), until,
                           QStringLiteral("--subject"), QStringLiteral("apikey:frank"), QStringLiteral("--out"), out});
        QCOMPARE(e.exitCode, 1);
        QVERIFY2(e.out.contains(QStringLiteral("pid %1").arg(gateway->process().processId())), qPrintable(e.out));
        QVERIFY2(e.out.contains(QStringLiteral("GET /api/evidence")), qPrintable(e.out));
        QVERIFY(!QFileInfo::exists(out));
        QCOMPARE(recordedExports().size(), exportsBefore);
        // A second gateway on the same store refuses to start, naming the first.
        const QJsonObject second = config;  // listens on another free port
        QFile file(path(QStringLiteral("second-gateway.json")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QJsonDocument(second).toJson());
        file.close();
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), kUpstreamKey);
        ManagedProcess other(QStringLiteral(VIGIL_GATEWAY_BIN), {QStringLiteral("--config"), file.fileName()}, env);
        QCOMPARE(other.runToExit(), 1);
        QVERIFY2(other.logText().contains("is recording into"), other.logText().constData());
        // The first keeps serving, and exports through its API.
        const auto r = httpRequest(gateway->url(), "GET", "/api/evidence?from=" + from_.toLatin1() + "&to=" + until.toLatin1() + "&subject=apikey:frank",
                                   {}, {{"Authorization", "Bearer " + audrey.toLatin1()}});
        QCOMPARE(r.status, 200);
        QCOMPARE(recordedExports().size(), exportsBefore + 1);
        QCOMPARE(gateway->terminate(), 0);
        // Stopped: the CLI records its export and writes the bundle.
        e = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), until,
                      QStringLiteral("--subject"), QStringLiteral("apikey:frank"), QStringLiteral("--out"), out});
        QVERIFY2(e.exitCode == 0, qPrintable(e.out));
        QCOMPARE(recordedExports().size(), exportsBefore + 2);
        const auto v = runVigil({QStringLiteral("verify-bundle"), out, QStringLiteral("--pubkey"), pubkey_});
        QVERIFY2(v.exitCode == 0, qPrintable(v.out));
    }

    // A period's bundle holds every request made in it: one sent in a conversation
    // (X-Vigil-Session) begun before the period is in it, with its review, and so is one
    // that completed just before the export (the sessions index is brought up to date
    // first). The sessions API selects the same way.
    void aPeriodHoldsEveryRequestMadeInIt() {
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        const auto grace = createApiKey(db(), QStringLiteral("grace"), QStringLiteral("requester"));
        const auto carl = createApiKey(db(), QStringLiteral("carl"), QStringLiteral("approver"));
        const auto audrey = createApiKey(db(), QStringLiteral("audrey-period"), QStringLiteral("auditor"));
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), db()}});
        auto gateway = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway);
        const auto url = gateway->url();
        const QList<QPair<QByteArray, QByteArray>> asGrace{{"Authorization", "Bearer " + grace.toLatin1()},
                                                           {"Content-Type", "application/json"},
                                                           {"X-Vigil-Session", "conv-long"}};
        QCOMPARE(httpRequest(url, "POST", "/v1/chat/completions", chatBody(QStringLiteral("hello")), asGrace).status, 200);
        QTest::qWait(20);
        const auto periodStart = QDateTime::currentDateTimeUtc();
        const auto from = periodStart.toString(Qt::ISODateWithMs).toLatin1();
        const auto to = periodStart.addSecs(120).toString(Qt::ISODateWithMs).toLatin1();
        QTest::qWait(20);
        // In the period, the same conversation: a held request, approved by carl.
        RawHttpConnection held{QUrl(url)};
        const auto body = chatBody(QStringLiteral("Project Falcon budget"));
        QVERIFY(held.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + grace.toLatin1() +
                             "\r\nX-Vigil-Session: conv-long\r\nContent-Type: application/json\r\nContent-Length: " +
                             QByteArray::number(body.size()) + "\r\n\r\n" + body));
        QString reviewId;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                const auto r = httpRequest(url, "GET", "/api/reviews?state=pending", {}, {{"Authorization", "Bearer " + carl.toLatin1()}});
                for (const auto& v : r.json().value(QStringLiteral("reviews")).toArray()) {
                    if (v.toObject().value(QStringLiteral("session_id")).toString() == QStringLiteral("conv-long")) {
                        reviewId = v.toObject().value(QStringLiteral("id")).toString();
                    }
                }
                return !reviewId.isEmpty();
            }(),
            5000);
        QCOMPARE(httpRequest(url, "POST", "/api/reviews/" + reviewId.toLatin1() + "/approve", {}, {{"Authorization", "Bearer " + carl.toLatin1()}})
                     .status,
                 200);
        QCOMPARE(held.readResponse(10000).status, 200);

        const QList<QPair<QByteArray, QByteArray>> asAuditor{{"Authorization", "Bearer " + audrey.toLatin1()}};
        auto bundleOf = [&](const QByteArray& query, std::map<std::string, std::string>& files) {
            const auto r = httpRequest(url, "GET", "/api/evidence?" + query, {}, asAuditor);
            if (r.status != 200) return r.status;
            std::string error;
            auto read = vigil::readZip(std::string_view(r.body.constData(), static_cast<std::size_t>(r.body.size())), error);
            if (!read) return -1;
            files = std::move(*read);
            return 200;
        };
        std::map<std::string, std::string> files;
        QCOMPARE(bundleOf("from=" + from + "&to=" + to + "&decision=review", files), 200);
        QVERIFY2(QByteArray::fromStdString(files["sessions.jsonl"]).contains("\"id\":\"conv-long\""), files["sessions.jsonl"].c_str());
        QVERIFY2(QByteArray::fromStdString(files["reviews.csv"]).contains(reviewId.toLatin1()), files["reviews.csv"].c_str());
        // The whole conversation comes, its request before the period included.
        QVERIFY(QByteArray::fromStdString(files["events.jsonl"]).contains("hello"));
        // The sessions API lists it in the period by the same rule, and not in a period
        // before its first request.
        auto sessionsIn = [&](const QByteArray& query) {
            QStringList ids;
            const auto r = httpRequest(url, "GET", "/api/sessions?limit=500&" + query, {}, asAuditor);
            for (const auto& row : r.json().value(QStringLiteral("sessions")).toArray()) {
                ids << row.toObject().value(QStringLiteral("id")).toString();
            }
            return ids;
        };
        QVERIFY(sessionsIn("from=" + from + "&decision=review").contains(QStringLiteral("conv-long")));
        QVERIFY(sessionsIn("from=" + from + "&subject=apikey:grace").contains(QStringLiteral("conv-long")));
        QVERIFY(!sessionsIn("to=" + periodStart.addSecs(-3600).toString(Qt::ISODateWithMs).toLatin1()).contains(QStringLiteral("conv-long")));
        QVERIFY(!sessionsIn("from=" + to).contains(QStringLiteral("conv-long")));

        // A request exported the moment its answer came back is in the bundle.
        for (int i = 0; i < 6; ++i) {
            const auto session = "instant-" + QByteArray::number(i);
            QCOMPARE(httpRequest(url, "POST", "/v1/chat/completions", chatBody(QStringLiteral("hi")),
                                 {{"Authorization", "Bearer " + grace.toLatin1()}, {"Content-Type", "application/json"}, {"X-Vigil-Session", session}})
                         .status,
                     200);
            std::map<std::string, std::string> instant;
            QCOMPARE(bundleOf("from=" + from + "&to=" + to + "&subject=apikey:grace", instant), 200);
            QVERIFY2(QByteArray::fromStdString(instant["sessions.jsonl"]).contains("\"id\":\"" + session + "\""),
                     qPrintable("round " + QString::number(i) + ": " + QString::fromStdString(instant["sessions.jsonl"])));
        }
        QCOMPARE(gateway->terminate(), 0);
    }

    // A key that never signed the store's chain is refused before anything is recorded.
    void aForeignKeyIsRefused() {
        const auto foreign = path(QStringLiteral("foreign-key.pem"));
        { vigil::record::SigningKey::loadOrCreate(foreign.toStdString()); }
        const auto exportsBefore = recordedExports().size();
        const auto r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), to_,
                                 QStringLiteral("--key"), foreign, QStringLiteral("--out"), path(QStringLiteral("foreign"))});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains(QStringLiteral("has never signed this store's chain")), qPrintable(r.out));
        QCOMPARE(recordedExports().size(), exportsBefore);
        const auto none = runVigil({QStringLiteral("export"), QStringLiteral("--db"), path(QStringLiteral("no-such.db")), QStringLiteral("--from"), from_,
                                    QStringLiteral("--to"), to_, QStringLiteral("--out"), path(QStringLiteral("none"))});
        QCOMPARE(none.exitCode, 1);
        QVERIFY2(none.out.contains(QStringLiteral("no database at")), qPrintable(none.out));
        QVERIFY(!QFileInfo::exists(path(QStringLiteral("no-such.db"))));
    }

    // A period's bundle can be far larger than the gateway's memory should grow: it is written
    // to disk and sent from there, a piece at a time, and the gateway's peak memory barely
    // moves for a bundle of ~100 MB. An export whose client leaves stops, and leaves nothing
    // in the temporary directory.
    void aLargeBundleIsSentFromDiskAndStopsWhenItsClientLeaves() {
        QTemporaryDir big;
        QVERIFY(big.isValid());
        const auto bigDb = big.filePath(QStringLiteral("large.db"));
        constexpr int kSessions = 3000;
        QVERIFY(recordLargeSessions(bigDb, big.filePath(QStringLiteral("signing-key.pem")), kSessions, 32 * 1024));
        const auto auditor = createApiKey(bigDb, QStringLiteral("audrey-large"), QStringLiteral("auditor"));
        QVERIFY(!auditor.isEmpty());
        const auto tmp = big.filePath(QStringLiteral("tmp"));
        QVERIFY(QDir().mkpath(tmp));
        // (The test's own helpers keep their files there too: only the gateway's are looked at.)
        const auto leftovers = [&] {
            return QDir(tmp).entryList({QStringLiteral("vigil-evidence-*")}, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden);
        };
        auto mock = startMockUpstream(kUpstreamKey);
        QVERIFY(mock);
        auto config = basicGatewayConfig(mock->url());
        config.insert(QStringLiteral("store"), QJsonObject{{QStringLiteral("sqlite_path"), bigDb}});
        const bool hadTmp = qEnvironmentVariableIsSet("TMPDIR");
        const auto oldTmp = qgetenv("TMPDIR");
        qputenv("TMPDIR", tmp.toLocal8Bit());
        auto gateway = startGateway(big, config, kUpstreamKey);
        hadTmp ? qputenv("TMPDIR", oldTmp) : qunsetenv("TMPDIR");
        QVERIFY(gateway);
        const QByteArray query = "/api/evidence?from=" + from_.toLatin1() + "&to=" +
                                 QDateTime::currentDateTimeUtc().addSecs(60).toString(Qt::ISODate).toLatin1();
        const QByteArray ask = "GET " + query + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + auditor.toLatin1() + "\r\n\r\n";

        // The client leaves while its bundle is being made: the export stops.
        {
            RawHttpConnection leaving{QUrl(gateway->url())};
            QVERIFY(leaving.sendRaw(ask));
            QTRY_VERIFY_WITH_TIMEOUT(!leftovers().isEmpty(), 10000);  // the export has begun
        }  // the connection closes
        QTRY_VERIFY_WITH_TIMEOUT(!gateway->logLines(QStringLiteral("evidence export cancelled")).isEmpty(), 20000);
        const auto cancelledId = gateway->logLines(QStringLiteral("evidence export cancelled")).first().value(QStringLiteral("request_id"));
        bool logged499 = false;
        for (const auto& line : gateway->logLines()) {
            logged499 = logged499 || (line.value(QStringLiteral("request_id")) == cancelledId && line.value(QStringLiteral("status")).toInt() == 499);
        }
        QVERIFY2(logged499, gateway->logText().right(2000).constData());
        QTRY_VERIFY2_WITH_TIMEOUT(leftovers().isEmpty(), qPrintable(leftovers().join(QLatin1Char(' '))), 10000);

        // The whole bundle, sent from disk: the gateway's peak memory grows far less than it.
        const auto peakKb = [&] {
            QFile status(QStringLiteral("/proc/%1/status").arg(gateway->process().processId()));
            if (!status.open(QIODevice::ReadOnly)) return -1LL;
            for (const auto& line : status.readAll().split('\n')) {
                if (line.startsWith("VmHWM:")) return line.mid(6).trimmed().split(' ').first().toLongLong();
            }
            return -1LL;
        };
        const auto before = peakKb();
        QVERIFY(before > 0);
        RawHttpConnection downloading{QUrl(gateway->url())};
        QVERIFY(downloading.sendRaw(ask));
        const auto r = downloading.readResponse(120000);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("content-type"), QByteArray("application/zip"));
        QVERIFY2(r.body.size() > kSessions * 32LL * 1024, QByteArray::number(r.body.size()).constData());
        const auto grewKb = peakKb() - before;
        qInfo("bundle %lld KiB; the gateway's peak memory grew by %lld KiB", static_cast<long long>(r.body.size() / 1024), grewKb);
        QVERIFY2(grewKb < 48 * 1024, qPrintable(QStringLiteral("the gateway's peak memory grew by %1 KiB for a bundle of %2 KiB")
                                                    .arg(grewKb)
                                                    .arg(r.body.size() / 1024)));
        QTRY_VERIFY_WITH_TIMEOUT(leftovers().isEmpty(), 10000);  // the files and the ZIP are gone
        // It is the bundle: it verifies, with every session in it, and checking it takes far
        // less memory than the bundle (its files are read a line or a piece at a time).
        const auto zip = big.filePath(QStringLiteral("large.zip"));
        QVERIFY(writeAll(zip, r.body));
        const auto v = runVigilMeasured({QStringLiteral("verify-bundle"), zip});
        QVERIFY2(v.exitCode == 0, qPrintable(v.out));
        QVERIFY2(v.out.contains(QStringLiteral("  %1 sessions,").arg(kSessions)), qPrintable(v.out));
        qInfo("verify-bundle's peak memory: %lld KiB for a bundle of %lld KiB", v.peakKb, static_cast<long long>(r.body.size() / 1024));
        QVERIFY2(v.peakKb > 0 && v.peakKb < 32 * 1024,
                 qPrintable(QStringLiteral("verify-bundle's peak memory was %1 KiB for a bundle of %2 KiB").arg(v.peakKb).arg(r.body.size() / 1024)));

        // A bundle counts among the two exports at once until it has been sent: two clients
        // that read slowly hold both places (their ZIPs are on disk), a third is told to wait;
        // once they leave, an export runs again.
        std::vector<std::unique_ptr<QTcpSocket>> slow;
        for (int i = 0; i < 2; ++i) {
            auto socket = std::make_unique<QTcpSocket>();
            socket->setReadBufferSize(64 * 1024);  // reads no further: the gateway's writes stall
            socket->connectToHost(QUrl(gateway->url()).host(), static_cast<quint16>(QUrl(gateway->url()).port()));
            QVERIFY(socket->waitForConnected(5000));
            socket->write(ask);
            QVERIFY(socket->waitForBytesWritten(5000));
            QByteArray head;
            QTRY_VERIFY_WITH_TIMEOUT((head += socket->read(64)).startsWith("HTTP/1.1 200"), 30000);  // being sent
            slow.push_back(std::move(socket));
        }
        const auto third = httpRequest(gateway->url(), "GET", query, {}, {{"Authorization", "Bearer " + auditor.toLatin1()}});
        QCOMPARE(third.status, 429);
        QVERIFY2(third.body.contains("being made or sent already"), third.body.constData());
        for (auto& socket : slow) socket->abort();
        slow.clear();
        QTRY_VERIFY_WITH_TIMEOUT(httpRequest(gateway->url(), "GET", query, {}, {{"Authorization", "Bearer " + auditor.toLatin1()}}, 60000).status == 200,
                                 30000);
        QCOMPARE(gateway->terminate(), 0);
    }

    void badExportRequestsAreRefused() {
        auto r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), to_, QStringLiteral("--to"), from_,
                        QStringLiteral("--out"), path(QStringLiteral("empty-range"))});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.out.contains(QStringLiteral("'from' must be before 'to'")));
        r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), to_,
                   QStringLiteral("--out"), bundle_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.out.contains(QStringLiteral("is not empty")));
        r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), QStringLiteral("yesterday"),
                   QStringLiteral("--to"), to_, QStringLiteral("--out"), path(QStringLiteral("x"))});
        QCOMPARE(r.exitCode, 2);
        r = runVigil({QStringLiteral("export"), QStringLiteral("--db"), db(), QStringLiteral("--from"), from_, QStringLiteral("--to"), to_,
                   QStringLiteral("--subject"), QStringLiteral("apikey:nobody"), QStringLiteral("--out"), path(QStringLiteral("nobody"))});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.out.contains(QStringLiteral("no recorded session matches")));
        r = runVigil({QStringLiteral("verify-bundle"), path(QStringLiteral("no-such-bundle"))});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.out.contains(QStringLiteral("no manifest.json")));
    }
};

QTEST_GUILESS_MAIN(TestEvidence)
#include "tst_evidence.moc"
