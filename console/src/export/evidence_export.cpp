#include "export/evidence_export.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QFont>
#include <QPdfWriter>
#include <QTextDocument>
#include <QUrlQuery>

#include <cerrno>
#include <cstring>
#include <functional>

#include <unistd.h>

#include "net/gateway_client.h"
#include "vigil/zip.h"

namespace vigil::console {
namespace {

QString html(const QString& s) { return s.toHtmlEscaped(); }

}  // namespace

namespace {

// A bundle's files as the report reads them: small ones whole, .jsonl ones a line at a time.
struct BundleFiles {
    std::function<QByteArray(const QString&)> whole;
    std::function<void(const QString&, const std::function<void(const QByteArray&)>&)> lines;
};

EvidenceReport readReport(const BundleFiles& files);

}  // namespace

EvidenceReport EvidenceReport::fromBundle(const QMap<QString, QByteArray>& files) {
    return readReport({[&](const QString& name) { return files.value(name); },
                       [&](const QString& name, const std::function<void(const QByteArray&)>& each) {
                           for (const auto& line : files.value(name).split('\n')) each(line);
                       }});
}

EvidenceReport EvidenceReport::fromBundleDirectory(const QString& dir) {
    return readReport({[&](const QString& name) {
                           QFile f(QDir(dir).filePath(name));
                           return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
                       },
                       [&](const QString& name, const std::function<void(const QByteArray&)>& each) {
                           QFile f(QDir(dir).filePath(name));
                           if (!f.open(QIODevice::ReadOnly)) return;
                           while (!f.atEnd()) {
                               auto line = f.readLine();
                               if (line.endsWith('\n')) line.chop(1);
                               each(line);
                           }
                       }});
}

namespace {

EvidenceReport readReport(const BundleFiles& files) {
    EvidenceReport r;
    const auto manifestBytes = files.whole(QStringLiteral("manifest.json"));
    r.manifestSha256 = QString::fromLatin1(QCryptographicHash::hash(manifestBytes, QCryptographicHash::Sha256).toHex());
    const auto manifest = QJsonDocument::fromJson(manifestBytes).object();
    r.rangeFrom = manifest.value(QStringLiteral("range")).toObject().value(QStringLiteral("from")).toString();
    r.rangeTo = manifest.value(QStringLiteral("range")).toObject().value(QStringLiteral("to")).toString();
    r.generatedAt = manifest.value(QStringLiteral("generated_at")).toString();
    r.generatedBy = manifest.value(QStringLiteral("generated_by")).toString();
    r.keyId = manifest.value(QStringLiteral("key_id")).toString();
    const auto filters = manifest.value(QStringLiteral("filters")).toObject();
    for (auto it = filters.begin(); it != filters.end(); ++it) {
        r.filters += (r.filters.isEmpty() ? QString() : QStringLiteral(", ")) + it.key() + QLatin1Char('=') + it.value().toVariant().toString();
    }
    r.eventsExcluded = manifest.value(QStringLiteral("events_after_last_checkpoint_excluded")).toInteger();
    for (const auto& v : manifest.value(QStringLiteral("policies_missing")).toArray()) r.policiesMissing << v.toString();
    const auto counts = manifest.value(QStringLiteral("counts")).toObject();
    r.sessions = counts.value(QStringLiteral("sessions")).toInteger();
    r.events = counts.value(QStringLiteral("events_in_scope")).toInteger();
    files.lines(QStringLiteral("sessions.jsonl"), [&](const QByteArray& line) {
        if (line.isEmpty()) return;
        ++r.sessionsByDecision[QJsonDocument::fromJson(line).object().value(QStringLiteral("decision")).toString()];
    });
    // One pass over the events: the masking counts, and each review's last recorded state in
    // the order the reviews first appear in the chain.
    QMap<QString, QJsonObject> lastState;
    QStringList order;
    files.lines(QStringLiteral("events.jsonl"), [&](const QByteArray& line) {
        const bool masking = line.contains("masking.applied");
        if (!masking && !line.contains("\"review.")) return;  // a reply's chunk, say: not parsed
        const auto e = QJsonDocument::fromJson(line).object();
        const auto type = e.value(QStringLiteral("type")).toString();
        const auto payload = [&] { return QJsonDocument::fromJson(e.value(QStringLiteral("payload")).toString().toUtf8()).object(); };
        if (type == QStringLiteral("masking.applied")) {
            for (const auto& entity : payload().value(QStringLiteral("entities")).toArray()) {
                const auto o = entity.toObject();
                r.maskedEntities[o.value(QStringLiteral("entity")).toString()] += o.value(QStringLiteral("count")).toInteger();
            }
            return;
        }
        if (!type.startsWith(QStringLiteral("review."))) return;
        const auto p = payload();
        const auto id = p.value(QStringLiteral("id")).toString();
        if (!id.startsWith(QStringLiteral("rv_")) || !p.contains(QStringLiteral("state"))) return;
        if (!lastState.contains(id)) order << id;
        lastState[id] = p;
    });
    for (const auto& id : order) {
        const auto p = lastState.value(id);
        EvidenceReport::Review v;
        v.id = id;
        v.state = p.value(QStringLiteral("state")).toString();
        v.requester = p.value(QStringLiteral("requester")).toObject().value(QStringLiteral("subject")).toString();
        v.rule = p.value(QStringLiteral("rule")).toString();
        v.quorum = p.value(QStringLiteral("quorum")).toInt(1);
        v.createdAt = p.value(QStringLiteral("created_at")).toString();
        v.decidedAt = p.value(QStringLiteral("decided_at")).toString();
        QStringList approvers, times, reasons;
        for (const auto& a : p.value(QStringLiteral("approvals")).toArray()) {
            const auto o = a.toObject();
            approvers << o.value(QStringLiteral("subject")).toString();
            times << o.value(QStringLiteral("at")).toString();
            if (o.contains(QStringLiteral("reason"))) reasons << o.value(QStringLiteral("reason")).toString();
        }
        v.approvers = approvers.join(QStringLiteral(", "));
        v.approvedAt = times.join(QStringLiteral(", "));
        v.reasons = reasons.join(QStringLiteral("; "));
        const auto denial = p.value(QStringLiteral("denial")).toObject();
        v.deniedBy = denial.value(QStringLiteral("subject")).toString();
        v.denialReason = denial.value(QStringLiteral("reason")).toString();
        r.reviewList.append(v);
        if (approvers.contains(v.requester) || (!v.deniedBy.isEmpty() && v.deniedBy == v.requester)) {
            r.sodExceptions << QObject::tr("review %1: decided by its own requester %2").arg(v.id, v.requester);
        }
        const auto distinct = QSet<QString>(approvers.begin(), approvers.end()).size();
        if (v.state == QStringLiteral("approved") && distinct < v.quorum) {
            r.sodExceptions << QObject::tr("review %1: approved by %2 distinct approver(s), quorum %3").arg(v.id).arg(distinct).arg(v.quorum);
        }
    }
    const auto counted = counts.value(QStringLiteral("reviews")).toInteger(-1);
    if (counted >= 0 && counted != r.reviewList.size()) {
        r.reviewsMismatch = QObject::tr("The manifest counts %1 review(s); the bundle's signed events hold %2.")
                                .arg(counted)
                                .arg(r.reviewList.size());
    }
    r.reviews = r.reviewList.size();
    return r;
}

}  // namespace

bool writeEvidenceReport(const EvidenceReport& r, const QString& pdfPath, QString* error) {
    QString h;
    h += QStringLiteral("<h1>Vigil evidence report</h1>");
    h += QStringLiteral("<p><b>Period:</b> %1 to %2 (the sessions with a request made in it)<br/><b>Filters:</b> %8<br/>"
                        "<b>Generated:</b> %3 by %4<br/><b>Manifest SHA-256:</b> <code>%5</code><br/>"
                        "<b>Signing key:</b> <code>%6</code><br/><b>Chain status at export:</b> %7</p>")
             .arg(html(r.rangeFrom), html(r.rangeTo), html(r.generatedAt), html(r.generatedBy), html(r.manifestSha256), html(r.keyId),
                  html(r.chainStatus), r.filters.isEmpty() ? QObject::tr("none") : html(r.filters));
    if (r.eventsExcluded > 0) {
        h += QStringLiteral("<p><b>%1</b></p>")
                 .arg(html(QObject::tr("Left out: %1 event(s) of these sessions, recorded after the last signed checkpoint.").arg(r.eventsExcluded)));
    }
    if (!r.policiesMissing.isEmpty()) {
        h += QStringLiteral("<p><b>%1</b></p>")
                 .arg(html(QObject::tr("Policies that decided but whose text is not in the bundle: %1").arg(r.policiesMissing.join(QStringLiteral(", ")))));
    }
    h += QStringLiteral("<h2>Sessions</h2><p>Sessions: %1. Recorded events: %2.</p><table border='1' cellpadding='3'><tr><th>Decision</th><th>Sessions</th></tr>")
             .arg(r.sessions)
             .arg(r.events);
    for (auto it = r.sessionsByDecision.begin(); it != r.sessionsByDecision.end(); ++it) {
        h += QStringLiteral("<tr><td>%1</td><td>%2</td></tr>").arg(html(it.key().isEmpty() ? QStringLiteral("none") : it.key())).arg(it.value());
    }
    h += QStringLiteral("</table>");
    h += QStringLiteral("<h2>Reviews</h2><p>Reviews: %1.</p>").arg(r.reviews);
    if (!r.reviewsMismatch.isEmpty()) h += QStringLiteral("<p><b>%1</b></p>").arg(html(r.reviewsMismatch));
    if (!r.reviewList.isEmpty()) {
        h += QStringLiteral("<table border='1' cellpadding='3'><tr><th>Review</th><th>Outcome</th><th>Requester</th><th>Rule</th>"
                            "<th>Approvers (times; reasons)</th><th>Denied by (reason)</th><th>Opened</th><th>Decided</th></tr>");
        for (const auto& v : r.reviewList) {
            h += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td><td>%6</td><td>%7</td><td>%8</td></tr>")
                     .arg(html(v.id), html(v.state), html(v.requester), html(v.rule),
                          html(v.approvers + (v.approvedAt.isEmpty() ? QString() : QStringLiteral(" (") + v.approvedAt +
                                                                                      (v.reasons.isEmpty() ? QString() : QStringLiteral("; ") + v.reasons) + QLatin1Char(')'))),
                          html(v.deniedBy + (v.denialReason.isEmpty() ? QString() : QStringLiteral(" (") + v.denialReason + QLatin1Char(')'))),
                          html(v.createdAt), html(v.decidedAt));
        }
        h += QStringLiteral("</table>");
    }
    h += QStringLiteral("<h2>Segregation of duties</h2>");
    if (r.sodExceptions.isEmpty()) {
        h += QStringLiteral("<p>Exceptions: none. Every review was decided by approvers other than its requester and met its quorum.</p>");
    } else {
        h += QStringLiteral("<p>Exceptions: %1</p><ul>").arg(r.sodExceptions.size());
        for (const auto& e : r.sodExceptions) h += QStringLiteral("<li>%1</li>").arg(html(e));
        h += QStringLiteral("</ul>");
    }
    h += QStringLiteral("<h2>Masked values</h2>");
    if (r.maskedEntities.isEmpty()) {
        h += QStringLiteral("<p>Masked values: none.</p>");
    } else {
        h += QStringLiteral("<table border='1' cellpadding='3'><tr><th>Entity</th><th>Values masked</th></tr>");
        for (auto it = r.maskedEntities.begin(); it != r.maskedEntities.end(); ++it) {
            h += QStringLiteral("<tr><td>%1</td><td>%2</td></tr>").arg(html(it.key())).arg(it.value());
        }
        h += QStringLiteral("</table>");
    }
    h += QStringLiteral("<p><small>This report describes the bundle whose manifest has the SHA-256 above. The bundle, not this "
                        "report, is the evidence: check it with <code>vigil verify-bundle</code>.</small></p>");
    QPdfWriter pdf(pdfPath);
    pdf.setPageSize(QPageSize(QPageSize::A4));
    pdf.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter);
    pdf.setResolution(96);  // the document lays out in screen pixels: fonts at their point size
    pdf.setTitle(QObject::tr("Vigil evidence report %1 to %2").arg(r.rangeFrom, r.rangeTo));
    pdf.setCreator(QStringLiteral("Vigil Console"));
    QTextDocument doc;
    // No ligatures: text copied out of the report (hashes above all) must be the characters
    // written, not "ﬀ" for "ff".
    QFont font = doc.defaultFont();
    font.setStyleStrategy(QFont::PreferNoShaping);
    doc.setDefaultFont(font);
    doc.setDefaultStyleSheet(QStringLiteral("code { font-family: monospace; }"));
    doc.setHtml(h);
    doc.setPageSize(QSizeF(pdf.width(), pdf.height()));
    doc.print(&pdf);
    if (!QFile::exists(pdfPath)) {
        if (error != nullptr) *error = QObject::tr("cannot write %1").arg(pdfPath);
        return false;
    }
    return true;
}

EvidenceExport::EvidenceExport(GatewayClient& client, QObject* parent) : QObject(parent), client_(client) {}

void EvidenceExport::start(const Request& request) {
    cancel();
    cancelled_ = false;
    QUrlQuery q;
    q.addQueryItem(QStringLiteral("from"), request.from.toUTC().toString(Qt::ISODate));
    q.addQueryItem(QStringLiteral("to"), request.to.toUTC().toString(Qt::ISODate));
    const auto add = [&](const char* name, const QString& value) {
        if (!value.trimmed().isEmpty()) q.addQueryItem(QString::fromLatin1(name), value.trimmed());
    };
    add("subject", request.subject);
    add("connection", request.connection);
    add("model", request.model);
    add("decision", request.decision);
    QDir destination(request.destination);
    // The folders made for it are removed again if nothing comes of the export.
    createdFolders_.clear();
    for (auto folder = QDir::cleanPath(destination.absolutePath()); !QFileInfo::exists(folder);) {
        createdFolders_ << folder;
        const auto parent = QFileInfo(folder).absolutePath();
        if (parent == folder) break;
        folder = parent;
    }
    if (!destination.exists() && !destination.mkpath(QStringLiteral("."))) {
        fail(tr("cannot create %1").arg(request.destination));
        return;
    }
    partial_ = std::make_unique<QTemporaryFile>(destination.filePath(QStringLiteral(".vigil-evidence-XXXXXX.part")));
    if (!partial_->open()) {
        fail(tr("cannot write in %1: %2").arg(request.destination, partial_->errorString()));
        return;
    }
    writeError_.clear();
    refusal_.clear();
    reply_ = client_.download(QStringLiteral("/api/evidence?") + q.toString(QUrl::FullyEncoded));
    // Read as it arrives: at most this much waits in memory, the rest waits in the network.
    reply_->setReadBufferSize(1 << 20);
    connect(reply_, &QNetworkReply::downloadProgress, this, &EvidenceExport::progress);
    connect(reply_, &QNetworkReply::readyRead, this, [this, reply = reply_.data()] { received(reply); });
    connect(reply_, &QNetworkReply::finished, this, [this, reply = reply_.data(), request] {
        reply->deleteLater();
        reply_.clear();
        if (cancelled_) {
            fail(tr("cancelled"));
            return;
        }
        received(reply);
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (status != 200) {
            const auto message = QJsonDocument::fromJson(refusal_).object().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString();
            fail(status == 0 ? reply->errorString() : tr("the gateway refused (%1): %2").arg(status).arg(message));
            return;
        }
        if (!writeError_.isEmpty()) {  // before the error: the abort it caused reads "cancelled"
            fail(writeError_);
            return;
        }
        if (reply->error() != QNetworkReply::NoError) {  // the connection broke mid-bundle
            fail(reply->errorString());
            return;
        }
        save(bundleName(reply->rawHeader("Content-Disposition")), request);
    });
}

void EvidenceExport::received(QNetworkReply* reply) {
    const auto data = reply->readAll();
    if (data.isEmpty()) return;
    if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200) {
        if (refusal_.size() < 64 * 1024) refusal_ += data.left(64 * 1024 - refusal_.size());
        return;
    }
    if (!writeError_.isEmpty() || !partial_) return;
    if (partial_->write(data) != data.size()) {
        // A full disk, say: the rest is not asked for.
        writeError_ = tr("cannot write %1: %2").arg(partial_->fileName(), partial_->errorString());
        reply->abort();
    }
}

void EvidenceExport::fail(const QString& why) {
    partial_.reset();  // removes what was written
    for (const auto& folder : std::as_const(createdFolders_)) {
        if (!QDir().rmdir(folder)) break;  // only while empty: never anything put there meanwhile
    }
    createdFolders_.clear();
    emit failed(why);
}

QString EvidenceExport::bundleName(const QByteArray& contentDisposition) {
    auto name = QString::fromLatin1(contentDisposition);
    const auto at = name.indexOf(QStringLiteral("filename=\""));
    name = at >= 0 ? name.mid(at + 10).section(QLatin1Char('"'), 0, 0) : QString();
    name = name.section(QLatin1Char('/'), -1).section(QLatin1Char('\\'), -1);
    if (name.endsWith(QStringLiteral(".zip"), Qt::CaseInsensitive)) name.chop(4);
    QString safe;
    for (const QChar c : name) {
        const bool ok = (c >= QLatin1Char('a') && c <= QLatin1Char('z')) || (c >= QLatin1Char('A') && c <= QLatin1Char('Z')) ||
                        (c >= QLatin1Char('0') && c <= QLatin1Char('9')) || c == QLatin1Char('.') || c == QLatin1Char('-') ||
                        c == QLatin1Char('_');
        safe += ok ? c : QLatin1Char('_');
    }
    while (safe.startsWith(QLatin1Char('.'))) safe.remove(0, 1);
    return safe.isEmpty() ? QStringLiteral("vigil-evidence") : safe.left(128);
}

void EvidenceExport::save(const QString& name, const Request& request) {
    if (!partial_->flush()) {
        fail(tr("cannot write %1: %2").arg(partial_->fileName(), partial_->errorString()));
        return;
    }
    QDir destination(request.destination);
    QString base = name;
    for (int n = 2; destination.exists(base) || QFile::exists(destination.filePath(base + QStringLiteral(".zip"))); ++n) {
        base = name + QStringLiteral("-%1").arg(n);  // never overwrite an earlier export
    }
    const auto zipPath = destination.filePath(base + QStringLiteral(".zip"));
    const auto bundleDir = destination.filePath(base);
    const auto reportPath = QDir(bundleDir).filePath(QStringLiteral("report.pdf"));
    // The directory first (mkdir fails if someone made it meanwhile), then its files a piece
    // at a time from the received ZIP, with every check readZip makes.
    if (!destination.mkdir(base)) {
        fail(tr("cannot create %1").arg(bundleDir));
        return;
    }
    std::string error;
    if (!extractZipFile(partial_->fileName().toStdString(), bundleDir.toStdString(), error)) {
        QDir(bundleDir).removeRecursively();
        fail(tr("the bundle could not be unpacked: %1").arg(QString::fromStdString(error)));
        return;
    }
    // Linked into place, never over a file someone put there meanwhile (link fails when the
    // name exists; QFile::rename would fall back to a copy that replaces it).
    partial_->close();
    if (::link(QFile::encodeName(partial_->fileName()).constData(), QFile::encodeName(zipPath).constData()) != 0) {
        const auto why = QString::fromLocal8Bit(std::strerror(errno));
        QDir(bundleDir).removeRecursively();
        fail(tr("cannot write %1: %2").arg(zipPath, why));
        return;
    }
    partial_.reset();  // the temporary name goes; the bundle keeps its own
    createdFolders_.clear();
    auto report = EvidenceReport::fromBundleDirectory(bundleDir);
    client_.get(QStringLiteral("/api/chain/status"), [this, report, bundleDir, zipPath, reportPath](const ApiResult& status) mutable {
        if (status.ok()) {
            report.chainStatus = status.body.value(QStringLiteral("ok")).toBool()
                                     ? tr("verified by the gateway through event %1, signed through %2")
                                           .arg(status.body.value(QStringLiteral("verified_through")).toInteger())
                                           .arg(status.body.value(QStringLiteral("signed_through")).toInteger())
                                     : tr("BROKEN at event %1: %2")
                                           .arg(status.body.value(QStringLiteral("broken_at")).toInteger())
                                           .arg(status.body.value(QStringLiteral("problem")).toString());
        } else {
            report.chainStatus = tr("not checked (%1)").arg(status.errorMessage);
        }
        for (const auto& stretch : status.body.value(QStringLiteral("signed_at_start")).toArray()) {
            report.chainStatus += tr("; events %1 to %2 were signed only when the gateway started again (it was killed before "
                                     "signing them, or they were written while it was stopped)")
                                      .arg(stretch.toObject().value(QStringLiteral("from_seq")).toInteger())
                                      .arg(stretch.toObject().value(QStringLiteral("to_seq")).toInteger());
        }
        QString problem;
        if (!writeEvidenceReport(report, reportPath, &problem)) {
            emit failed(problem);
            return;
        }
        emit finished(bundleDir, zipPath, reportPath);
    });
}

void EvidenceExport::cancel() {
    if (reply_.isNull()) return;
    cancelled_ = true;
    reply_->abort();
}

}  // namespace vigil::console
