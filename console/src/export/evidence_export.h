#pragma once

#include <QDateTime>
#include <QMap>
#include <QObject>
#include <QPointer>
#include <QStringList>
#include <QTemporaryFile>

#include <memory>

class QNetworkReply;

namespace vigil::console {

class GatewayClient;

// What the report tells, read from a bundle's files.
struct EvidenceReport {
    QString rangeFrom, rangeTo, generatedAt, generatedBy, manifestSha256, keyId;
    QString chainStatus;  // the gateway's own check at export time
    QString filters;      // "decision=review, subject=apikey:alice"; empty: none
    qint64 eventsExcluded = 0;      // recorded after the last checkpoint, left out
    QStringList policiesMissing;    // versions that decided whose text is not in the bundle
    qint64 sessions = 0, events = 0, reviews = 0;
    QMap<QString, qint64> sessionsByDecision;
    QMap<QString, qint64> maskedEntities;  // entity -> values masked
    struct Review {
        QString id, state, requester, rule, approvers, approvedAt, reasons, deniedBy, denialReason, createdAt, decidedAt;
        int quorum = 1;
    };
    // From the signed review events in events.jsonl (the same the verifier checks), not from
    // the derived reviews.csv, whose free-text cells a reader could split differently.
    QList<Review> reviewList;
    QStringList sodExceptions;  // reviews decided by their requester or short of their quorum
    QString reviewsMismatch;    // when the manifest counts other reviews than the events hold

    // From the unpacked bundle's files (name -> bytes).
    static EvidenceReport fromBundle(const QMap<QString, QByteArray>& files);
    // From an unpacked bundle on disk, its .jsonl files read a line at a time (a period's
    // events.jsonl can be far larger than the console's memory should grow).
    static EvidenceReport fromBundleDirectory(const QString& dir);
};

// Writes the report as a PDF (QPdfWriter): period, counts by decision, every review with
// requester, approvers, times and reasons, masked entity counts, segregation-of-duties
// exceptions, chain status, and the manifest hash it describes.
bool writeEvidenceReport(const EvidenceReport& report, const QString& pdfPath, QString* error);

// Exports an evidence bundle from the gateway (GET /api/evidence): the ZIP as received, its
// files in a directory beside it, and report.pdf added to that directory (the report is a
// reading aid, not signed: it states the manifest hash it describes).
class EvidenceExport : public QObject {
    Q_OBJECT
public:
    struct Request {
        QDateTime from, to;
        QString subject, connection, model, decision;
        QString destination;  // a directory
    };
    explicit EvidenceExport(GatewayClient& client, QObject* parent = nullptr);

    void start(const Request& request);
    void cancel();
    // The bundle's base name from the gateway's Content-Disposition: its file name without
    // ".zip", letters, digits, '.', '-' and '_' only, never starting with '.' (a name with a
    // path in it, "../x", must not leave the chosen folder); "vigil-evidence" if none is left.
    static QString bundleName(const QByteArray& contentDisposition);
    bool running() const { return !reply_.isNull(); }

signals:
    void progress(qint64 received, qint64 total);  // total -1 when unknown
    // The bundle's directory, its ZIP and the report.
    void finished(const QString& bundleDir, const QString& zipPath, const QString& reportPath);
    void failed(const QString& why);

private:
    void received(QNetworkReply* reply);
    void save(const QString& name, const Request& request);
    void fail(const QString& why);

    GatewayClient& client_;
    QPointer<QNetworkReply> reply_;
    bool cancelled_ = false;
    // The ZIP as it arrives, written beside where it will be kept (never held in memory);
    // renamed into place once whole, removed otherwise.
    std::unique_ptr<QTemporaryFile> partial_;
    QString writeError_;
    QByteArray refusal_;  // the body of an answer other than 200 (a JSON error, bounded)
    QStringList createdFolders_;  // made for this export, deepest first; removed if it fails
};

}  // namespace vigil::console
