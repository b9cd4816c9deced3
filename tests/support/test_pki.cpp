#include "test_pki.h"

#include <QDir>
#include <QFile>
#include <QProcess>

namespace vigil::test {
namespace {

bool runOpenssl(const QString& dir, const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(dir);
    p.start(QStringLiteral(VIGIL_OPENSSL_BIN), args);
    if (!p.waitForFinished(30000) || p.exitCode() != 0) {
        qWarning("openssl %s failed: %s", qPrintable(args.join(QLatin1Char(' '))),
                 p.readAllStandardError().constData());
        return false;
    }
    return true;
}

}  // namespace

bool makeTestPki(const QString& dir) {
    QFile ext(QDir(dir).filePath(QStringLiteral("server.ext")));
    if (!ext.open(QIODevice::WriteOnly)) return false;
    ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
              "extendedKeyUsage=serverAuth\n"
              "basicConstraints=CA:FALSE\n");
    ext.close();
    const auto ec = QStringLiteral("ec");
    const auto curve = QStringLiteral("ec_paramgen_curve:P-256");
    return runOpenssl(dir, {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"), ec,
                            QStringLiteral("-pkeyopt"), curve, QStringLiteral("-nodes"),
                            QStringLiteral("-keyout"), QStringLiteral("ca.key"), QStringLiteral("-out"),
                            QStringLiteral("ca.crt"), QStringLiteral("-days"), QStringLiteral("2"),
                            QStringLiteral("-subj"), QStringLiteral("/CN=Vigil Test CA"),
                            QStringLiteral("-addext"), QStringLiteral("basicConstraints=critical,CA:TRUE"),
                            QStringLiteral("-addext"), QStringLiteral("keyUsage=critical,keyCertSign,cRLSign")}) &&
           runOpenssl(dir, {QStringLiteral("req"), QStringLiteral("-newkey"), ec, QStringLiteral("-pkeyopt"),
                            curve, QStringLiteral("-nodes"), QStringLiteral("-keyout"),
                            QStringLiteral("server.key"), QStringLiteral("-out"), QStringLiteral("server.csr"),
                            QStringLiteral("-subj"), QStringLiteral("/CN=localhost")}) &&
           runOpenssl(dir, {QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                            QStringLiteral("server.csr"), QStringLiteral("-CA"), QStringLiteral("ca.crt"),
                            QStringLiteral("-CAkey"), QStringLiteral("ca.key"), QStringLiteral("-CAcreateserial"),
                            QStringLiteral("-out"), QStringLiteral("server.crt"), QStringLiteral("-days"),
                            QStringLiteral("2"), QStringLiteral("-extfile"), QStringLiteral("server.ext")});
}

}  // namespace vigil::test
