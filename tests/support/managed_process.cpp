#include "managed_process.h"

#include <signal.h>

#include <QDeadlineTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QThread>
#include <QUrl>

namespace vigil::test {

ManagedProcess::ManagedProcess(QString program, QStringList arguments,
                               QProcessEnvironment environment) {
    logFile_ = dir_.filePath(QStringLiteral("stdout.log"));
    process_.setProgram(program);
    process_.setArguments(arguments);
    process_.setProcessEnvironment(environment);
    process_.setStandardOutputFile(logFile_);
}

ManagedProcess::~ManagedProcess() {
    if (process_.state() != QProcess::NotRunning) {
        process_.kill();
        process_.waitForFinished(5000);
    }
}

bool ManagedProcess::start(int listeners, int timeoutMs) {
    process_.start();
    if (!process_.waitForStarted(timeoutMs)) {
        qWarning("process %s did not start: %s", qPrintable(process_.program()), qPrintable(process_.errorString()));
        return false;
    }
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        urls_.clear();
        for (const auto& line : logLines(QStringLiteral("listening"))) {
            urls_.append(line.value(QStringLiteral("url")).toString());
        }
        if (urls_.size() >= listeners) return true;
        if (process_.state() == QProcess::NotRunning) break;
        process_.waitForFinished(20);
    }
    stderrText();
    qWarning("process %s did not start listening; stderr: %s; stdout: %s",
             qPrintable(process_.program()), stderr_.constData(), logText().constData());
    return false;
}

int ManagedProcess::runToExit(int timeoutMs) {
    process_.start();
    if (!process_.waitForFinished(timeoutMs)) return -1;
    stderrText();
    return process_.exitStatus() == QProcess::NormalExit ? process_.exitCode() : -1;
}

quint16 ManagedProcess::port(int index) const {
    return static_cast<quint16>(QUrl(url(index)).port());
}

QByteArray ManagedProcess::logText() const {
    QFile f(logFile_);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
}

QByteArray ManagedProcess::stderrText() {
    stderr_ += process_.readAllStandardError();
    return stderr_;
}

QList<QJsonObject> ManagedProcess::logLines() const {
    QList<QJsonObject> lines;
    for (const auto& raw : logText().split('\n')) {
        if (raw.trimmed().isEmpty()) continue;
        const auto doc = QJsonDocument::fromJson(raw);
        if (doc.isObject()) lines.append(doc.object());
    }
    return lines;
}

QList<QJsonObject> ManagedProcess::logLines(const QString& msg) const {
    QList<QJsonObject> out;
    for (const auto& l : logLines()) {
        if (l.value(QStringLiteral("msg")).toString() == msg) out.append(l);
    }
    return out;
}

int ManagedProcess::terminate(int timeoutMs) {
    if (process_.state() == QProcess::NotRunning) {
        return process_.exitStatus() == QProcess::NormalExit ? process_.exitCode() : -1;
    }
    ::kill(static_cast<pid_t>(process_.processId()), SIGTERM);
    if (!process_.waitForFinished(timeoutMs)) return -1;
    stderrText();
    return process_.exitStatus() == QProcess::NormalExit ? process_.exitCode() : -1;
}

std::unique_ptr<ManagedProcess> startMockUpstream(const QString& apiKey,
                                                  const QStringList& extraArguments) {
    QStringList args = {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                        QStringLiteral("--api-key"), apiKey, QStringLiteral("--threads"),
                        QStringLiteral("1")};
    args += extraArguments;
    auto process = std::make_unique<ManagedProcess>(QStringLiteral(VIGIL_MOCK_UPSTREAM_BIN), args);
    if (!process->start()) return nullptr;
    return process;
}

std::unique_ptr<ManagedProcess> startGateway(const QTemporaryDir& dir, const QJsonObject& config,
                                             const QString& upstreamKey, int listeners) {
    const QString path = dir.filePath(QStringLiteral("gateway.json"));
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return nullptr;
    f.write(QJsonDocument(config).toJson());
    f.close();
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("VIGIL_TEST_UPSTREAM_KEY"), upstreamKey);
    auto process = std::make_unique<ManagedProcess>(
        QStringLiteral(VIGIL_GATEWAY_BIN), QStringList{QStringLiteral("--config"), path}, env);
    if (!process->start(listeners)) return nullptr;
    return process;
}

QString createApiKey(const QString& dbPath, const QString& name, const QString& roles) {
    QProcess cli;
    cli.start(QStringLiteral(VIGIL_GATEWAY_BIN),
              {QStringLiteral("keys"), QStringLiteral("create"), QStringLiteral("--db"), dbPath,
               QStringLiteral("--name"), name, QStringLiteral("--roles"), roles});
    if (!cli.waitForFinished(15000) || cli.exitCode() != 0) {
        qWarning("keys create failed: %s", cli.readAllStandardError().constData());
        return {};
    }
    return QString::fromLatin1(cli.readAllStandardOutput()).trimmed();
}

QJsonObject runOpenAiSdk(const QString& baseUrl, const QString& apiKey, const QString& mode,
                         const QStringList& extra, QByteArray* transcript) {
    QProcess node;
    node.setWorkingDirectory(QStringLiteral(VIGIL_SOURCE_DIR "/tests/integration/node"));
    node.start(QStringLiteral(VIGIL_NODE_BIN),
               QStringList{QStringLiteral("sdk_client.mjs"), QStringLiteral("--base-url"), baseUrl,
                           QStringLiteral("--api-key"), apiKey, QStringLiteral("--mode"), mode} + extra);
    if (!node.waitForFinished(60000)) return {};
    const QByteArray out = node.readAllStandardOutput();
    if (transcript != nullptr) *transcript += out + node.readAllStandardError();
    return QJsonDocument::fromJson(out.trimmed().split('\n').last()).object();
}

QJsonObject basicGatewayConfig(const QString& upstreamUrl) {
    const QJsonObject listener{{QStringLiteral("address"), QStringLiteral("127.0.0.1")},
                               {QStringLiteral("port"), 0}};
    const QJsonObject connection{
        {QStringLiteral("kind"), QStringLiteral("openai")},
        {QStringLiteral("base_url"), upstreamUrl},
        {QStringLiteral("credential"),
         QJsonObject{{QStringLiteral("env"), QStringLiteral("VIGIL_TEST_UPSTREAM_KEY")}}}};
    return QJsonObject{
        {QStringLiteral("listeners"), QJsonArray{listener}},
        {QStringLiteral("default_connection"), QStringLiteral("mock")},
        {QStringLiteral("connections"), QJsonObject{{QStringLiteral("mock"), connection}}},
        {QStringLiteral("threads"), 2},
        {QStringLiteral("shutdown_grace_ms"), 5000},
    };
}

}  // namespace vigil::test
