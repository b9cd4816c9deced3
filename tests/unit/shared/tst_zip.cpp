// The bundle ZIP (vigil/zip.h): what makeZip writes, readZip reads back byte for byte, and
// `unzip` (Info-ZIP) accepts; damaged archives, compressed entries and names that leave the
// archive are refused with a message.

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include "vigil/zip.h"

class TestZip : public QObject {
    Q_OBJECT
private slots:
    void roundTrip() {
        std::map<std::string, std::string> files{{"manifest.json", "{\"a\":1}\n"},
                                                 {"policies/abc.json", std::string(70'000, 'x')},
                                                 {"empty.txt", ""},
                                                 {"binary.bin", std::string("\0\1\2\xff", 4)}};
        const auto zip = vigil::makeZip(files);
        std::string error;
        const auto back = vigil::readZip(zip, error);
        QVERIFY2(back.has_value(), error.c_str());
        QVERIFY(*back == files);
        QCOMPARE(vigil::makeZip(files), zip);  // the same files, the same bytes
    }

    void otherToolsReadIt() {
        // python3's zipfile reads it as another tool would (python3 is on every supported machine).
        QTemporaryDir dir;
        const auto zip = vigil::makeZip({{"a/b.txt", "hello"}, {"c.txt", "world"}});
        QFile f(dir.filePath(QStringLiteral("t.zip")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(zip.data(), static_cast<qint64>(zip.size()));
        f.close();
        QProcess python;
        python.start(QStringLiteral("python3"),
                     {QStringLiteral("-c"),
                      QStringLiteral("import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
                                     "print(sorted(z.namelist()), z.read('a/b.txt').decode())"),
                      f.fileName()});
        QVERIFY(python.waitForFinished(30000));
        QCOMPARE(python.exitCode(), 0);
        QCOMPARE(python.readAllStandardOutput().trimmed(), QByteArray("['a/b.txt', 'c.txt'] hello"));
    }

    void badArchivesAreRefused() {
        std::string error;
        QVERIFY(!vigil::readZip("not a zip at all", error));
        QVERIFY(error.find("not a ZIP") != std::string::npos);

        auto zip = vigil::makeZip({{"data.txt", std::string(1000, 'a')}});
        auto damaged = zip;
        damaged[500] = 'b';  // inside the stored data
        QVERIFY(!vigil::readZip(damaged, error));
        QVERIFY2(error.find("CRC") != std::string::npos, error.c_str());

        QVERIFY(!vigil::readZip(zip.substr(0, zip.size() - 30), error));  // cut short

        const auto escaping = vigil::makeZip({{"../outside.txt", "x"}});
        QVERIFY(!vigil::readZip(escaping, error));
        QVERIFY2(error.find("outside the bundle") != std::string::npos, error.c_str());
        const auto absolute = vigil::makeZip({{"/etc/passwd", "x"}});
        QVERIFY(!vigil::readZip(absolute, error));

        // A compressed entry (method 8) is refused, not misread.
        auto compressed = vigil::makeZip({{"c.txt", "abc"}});
        compressed[8] = 8;  // local header method
        const auto central = compressed.find("PK\x01\x02");
        QVERIFY(central != std::string::npos);
        compressed[central + 10] = 8;  // central directory method
        QVERIFY(!vigil::readZip(compressed, error));
        QVERIFY2(error.find("compressed") != std::string::npos, error.c_str());
    }

    // An archive that tools could extract differently from what this reader checked (an
    // auditor unzips the bundle and reads the files) is refused.
    void ambiguousArchivesAreRefused() {
        std::string error;
        auto replaceAll = [](std::string z, const std::string& from, const std::string& to) {
            for (auto at = z.find(from); at != std::string::npos; at = z.find(from, at + to.size())) z.replace(at, from.size(), to);
            return z;
        };
        // The same name twice: unzip and Python keep the last copy.
        const auto twice = replaceAll(vigil::makeZip({{"events.jsonl", "good\n"}, {"fvents.jsonl", "forged\n"}}),
                                      "fvents.jsonl", "events.jsonl");
        QVERIFY(!vigil::readZip(twice, error));
        QVERIFY2(error.find("events.jsonl twice") != std::string::npos, error.c_str());
        for (const char* name : {"./events.jsonl", "a//events.jsonl", "a/./b", "a\\..\\b", "tab\there"}) {
            QVERIFY2(!vigil::readZip(vigil::makeZip({{name, "x"}}), error), name);
            QVERIFY2(error.find("ambiguous name") != std::string::npos, error.c_str());
        }
        // A local header naming another file than the central directory does.
        auto local = vigil::makeZip({{"events.jsonl", "x"}});
        QCOMPARE(local.substr(30, 12), std::string("events.jsonl"));
        local.replace(30, 12, "zvents.jsonl");
        QVERIFY(!vigil::readZip(local, error));
        QVERIFY2(error.find("local ZIP header names another file") != std::string::npos, error.c_str());
        // Offsets and sizes that would wrap a 32-bit sum: refused, not read out of bounds.
        const auto zip = vigil::makeZip({{"a.txt", "hello"}});
        const auto central = zip.find("PK\x01\x02");
        QVERIFY(central != std::string::npos);
        auto farOffset = zip;
        farOffset.replace(central + 42, 4, std::string("\xf0\xff\xff\xff", 4));
        QVERIFY(!vigil::readZip(farOffset, error));
        QVERIFY2(error.find("header is damaged") != std::string::npos, error.c_str());
        auto hugeSize = zip;
        hugeSize.replace(central + 20, 4, std::string("\xf0\xff\xff\xff", 4));
        QVERIFY(!vigil::readZip(hugeSize, error));
        QVERIFY2(error.find("cut short") != std::string::npos, error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestZip)
#include "tst_zip.moc"
