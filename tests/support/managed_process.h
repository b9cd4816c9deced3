#pragma once

#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

namespace vigil::test {

// A real vigil-gateway or vigil-mock-upstream process. Its stdout (JSON log lines) goes to
// a file, never to a pipe the test might forget to drain, and start() waits for the
// "listening" line to learn the port chosen for port 0.
class ManagedProcess {
public:
    ManagedProcess(QString program, QStringList arguments,
                   QProcessEnvironment environment = QProcessEnvironment::systemEnvironment());
    ~ManagedProcess();
    ManagedProcess(const ManagedProcess&) = delete;
    ManagedProcess& operator=(const ManagedProcess&) = delete;

    // Starts and waits until it listens (`listeners` lines) or exits. False on failure.
    bool start(int listeners = 1, int timeoutMs = 15000);
    // Starts and waits for it to exit (for processes expected to refuse to start).
    int runToExit(int timeoutMs = 15000);

    QString url(int index = 0) const { return urls_.value(index); }
    quint16 port(int index = 0) const;
    QByteArray logText() const;     // everything written to stdout so far
    QByteArray stderrText();
    QList<QJsonObject> logLines() const;
    QList<QJsonObject> logLines(const QString& msg) const;

    // SIGTERM, then wait; returns the exit code (-1 when it did not exit in time).
    int terminate(int timeoutMs = 15000);
    bool isRunning() const { return process_.state() != QProcess::NotRunning; }
    QProcess& process() { return process_; }

private:
    QTemporaryDir dir_;
    QString logFile_;
    QProcess process_;
    QStringList urls_;
    QByteArray stderr_;
};

// Starts vigil-mock-upstream on a free loopback port with `apiKey`.
std::unique_ptr<ManagedProcess> startMockUpstream(const QString& apiKey,
                                                  const QStringList& extraArguments = {});

// Writes `config` into `dir` as gateway.json and starts vigil-gateway with it, the upstream
// key in the environment variable VIGIL_TEST_UPSTREAM_KEY.
std::unique_ptr<ManagedProcess> startGateway(const QTemporaryDir& dir, const QJsonObject& config,
                                             const QString& upstreamKey, int listeners = 1);

// Creates a Vigil API key with the real CLI (vigil-gateway keys create --db ...) and
// returns it; empty on failure.
QString createApiKey(const QString& dbPath, const QString& name, const QString& roles);

// Runs tests/integration/node/sdk_client.mjs (the official openai SDK) against `baseUrl`
// with `apiKey`; returns the JSON line it printed (ok, text, error_class, status, code...).
// `transcript`, when given, collects everything the client printed.
QJsonObject runOpenAiSdk(const QString& baseUrl, const QString& apiKey, const QString& mode,
                         const QStringList& extra = {}, QByteArray* transcript = nullptr);

// A minimal gateway config: one plain listener on a free port, one connection "mock" (the
// default) to `upstreamUrl`, credential from VIGIL_TEST_UPSTREAM_KEY.
QJsonObject basicGatewayConfig(const QString& upstreamUrl);

}  // namespace vigil::test
