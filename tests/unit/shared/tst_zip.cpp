// The bundle ZIP (vigil/zip.h): what makeZip and writeZipFile write, readZip and
// extractZipFile read back byte for byte, and python3's zipfile accepts (ZIP64 too); damaged
// archives, compressed entries and names that leave the archive are refused with a message.

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "vigil/zip.h"

namespace {

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool writeFile(const std::filesystem::path& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    return static_cast<bool>(out);
}

}  // namespace

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

    // The archive written from files on disk, a piece at a time, is the one makeZip makes;
    // extracted from disk, it gives the files back.
    void aFileArchiveIsTheSameArchive() {
        QTemporaryDir dir;
        const std::map<std::string, std::string> files{{"events.jsonl", std::string(3'000'001, 'e')},
                                                       {"policies/abc.json", "{}"},
                                                       {"empty.txt", ""}};
        std::map<std::string, std::filesystem::path> onDisk;
        for (const auto& [name, data] : files) {
            const auto path = std::filesystem::path(dir.path().toStdString()) / ("in-" + std::to_string(onDisk.size()));
            QVERIFY(writeFile(path, data));
            onDisk[name] = path;
        }
        const auto archive = std::filesystem::path(dir.path().toStdString()) / "bundle.zip";
        std::string error;
        QVERIFY2(vigil::writeZipFile(archive, onDisk, error), error.c_str());
        QCOMPARE(readFile(archive), vigil::makeZip(files));
        const auto out = std::filesystem::path(dir.path().toStdString()) / "out";
        std::filesystem::create_directory(out);
        const auto names = vigil::extractZipFile(archive, out, error);
        QVERIFY2(names, error.c_str());
        QCOMPARE(names->size(), files.size());
        for (const auto& [name, data] : files) QVERIFY2(readFile(out / name) == data, name.c_str());

        // Damaged on disk: extraction names the file whose CRC fails.
        auto damaged = readFile(archive);
        damaged[1000] = 'x';
        QVERIFY(writeFile(archive, damaged));
        const auto again = std::filesystem::path(dir.path().toStdString()) / "again";
        std::filesystem::create_directory(again);
        QVERIFY(!vigil::extractZipFile(archive, again, error));
        QVERIFY2(error == "events.jsonl: its CRC in the ZIP does not match (damaged)", error.c_str());
        QVERIFY(!vigil::extractZipFile(std::filesystem::path(dir.path().toStdString()) / "missing.zip", again, error));
        QVERIFY2(error.find("cannot be read") != std::string::npos, error.c_str());

        // Asked to stop, it stops.
        const std::atomic<bool> cancelled{true};
        QVERIFY(!vigil::writeZipFile(archive, onDisk, error, &cancelled));
        QCOMPARE(error, std::string("cancelled"));
    }

    // ZIP64 (what a bundle past 4 GiB needs), written for every entry so that readers are
    // checked without 4 GiB of data: python3's zipfile, readZip and extractZipFile read it.
    void zip64IsReadByOtherToolsAndBack() {
        QTemporaryDir dir;
        const auto root = std::filesystem::path(dir.path().toStdString());
        QVERIFY(writeFile(root / "a", "hello"));
        QVERIFY(writeFile(root / "b", std::string(100'000, 'b')));
        const auto archive = root / "z64.zip";
        std::string error;
        QVERIFY2(vigil::writeZipFile(archive, {{"a/b.txt", root / "a"}, {"events.jsonl", root / "b"}}, error, nullptr, true), error.c_str());
        const auto bytes = readFile(archive);
        QVERIFY(bytes.find("PK\x06\x06") != std::string::npos);  // the ZIP64 end record
        QVERIFY(bytes.find("PK\x06\x07") != std::string::npos);  // and its locator
        QProcess python;
        python.start(QStringLiteral("python3"),
                     {QStringLiteral("-c"),
                      QStringLiteral("import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
                                     "print(sorted(z.namelist()), z.read('a/b.txt').decode(), len(z.read('events.jsonl')))"),
                      QString::fromStdString(archive.string())});
        QVERIFY(python.waitForFinished(30000));
        QVERIFY2(python.exitCode() == 0, python.readAllStandardError().constData());
        QCOMPARE(python.readAllStandardOutput().trimmed(), QByteArray("['a/b.txt', 'events.jsonl'] hello 100000"));
        const auto back = vigil::readZip(bytes, error);
        QVERIFY2(back, error.c_str());
        QCOMPARE(back->at("a/b.txt"), std::string("hello"));
        QCOMPARE(back->at("events.jsonl"), std::string(100'000, 'b'));
        const auto out = root / "out";
        std::filesystem::create_directory(out);
        QVERIFY2(vigil::extractZipFile(archive, out, error), error.c_str());
        QCOMPARE(readFile(out / "a/b.txt"), std::string("hello"));

        // ZIP64 values in the classic record without the ZIP64 record: refused, not guessed.
        auto noRecord = bytes;
        const auto locator = noRecord.find("PK\x06\x07");
        noRecord.replace(locator, 4, "XXXX");
        QVERIFY(!vigil::readZip(noRecord, error));
        QVERIFY2(error.find("ZIP64 values without their record") != std::string::npos, error.c_str());
        // A ZIP64 record pointing past the end.
        auto farRecord = bytes;
        farRecord.replace(locator + 8, 8, std::string("\xf0\xff\xff\xff\xff\xff\xff\x7f", 8));
        QVERIFY(!vigil::readZip(farRecord, error));
        QVERIFY2(error.find("ZIP64 end of central directory is damaged") != std::string::npos, error.c_str());
        // A central entry whose ZIP64 field is missing.
        auto noExtra = bytes;
        const auto central = noExtra.find("PK\x01\x02");
        noExtra[central + 30] = 0;  // extra length 0: the sizes are nowhere
        noExtra[central + 31] = 0;
        QVERIFY(!vigil::readZip(noExtra, error));
        QVERIFY2(error == "a/b.txt: its ZIP64 sizes or offset are missing", error.c_str());
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
        for (const std::size_t at : {central + 20, central + 24, std::size_t(18), std::size_t(22)}) {
            hugeSize.replace(at, 4, std::string("\xf0\xff\xff\xff", 4));  // both sizes, in both headers
        }
        QVERIFY(!vigil::readZip(hugeSize, error));
        QVERIFY2(error.find("cut short") != std::string::npos, error.c_str());
    }

    // Archives that unzip or Python would read differently from this reader (a forger adds
    // files to a genuine bundle that verify-bundle would not see), or that expand beyond
    // their size, are refused.
    void archivesReadTwoWaysAreRefused() {
        std::string error;
        const auto two = vigil::makeZip({{"a.txt", "hello"}, {"manifest.json", "{}"}});
        QVERIFY(vigil::readZip(two, error));
        // Bytes before the archive: tools shift every offset by them, this reader would not.
        QVERIFY(!vigil::readZip("0123456789" + two, error));
        QVERIFY2(error.find("central directory is damaged") != std::string::npos, error.c_str());
        // Fewer entries counted than the directory holds: Python lists the others.
        auto undercounted = two;
        const auto end = undercounted.rfind("PK\x05\x06");
        undercounted[end + 8] = 1;
        undercounted[end + 10] = 1;
        QVERIFY(!vigil::readZip(undercounted, error));
        QVERIFY2(error.find("holds more entries than it counts") != std::string::npos, error.c_str());
        // Encryption or a data descriptor flagged: refused, not read as plain stored data.
        auto encrypted = two;
        encrypted[6] = 1;
        encrypted[encrypted.find("PK\x01\x02") + 8] = 1;
        QVERIFY(!vigil::readZip(encrypted, error));
        QVERIFY2(error.find("uses ZIP features a bundle does not") != std::string::npos, error.c_str());
        // A local header that says another CRC than the central directory.
        auto otherCrc = two;
        otherCrc[14] = static_cast<char>(otherCrc[14] ^ 1);
        QVERIFY(!vigil::readZip(otherCrc, error));
        QVERIFY2(error.find("local ZIP header differs from the central directory") != std::string::npos, error.c_str());
        // One entry's data holding another entry: the archive would expand beyond its size.
        const auto inner = vigil::makeZip({{"b.txt", "hello"}}).substr(0, 30 + 5 + 5);  // b.txt's local header and data
        auto overlapping = vigil::makeZip({{"a.txt", inner}, {"b.txt", "hello"}});
        const auto centralB = overlapping.find(std::string("PK\x01\x02", 4), overlapping.find(std::string("PK\x01\x02", 4)) + 4);
        overlapping.replace(centralB + 42, 4, std::string("\x23\x00\x00\x00", 4));  // b.txt's header at 35: inside a.txt's data
        QVERIFY(!vigil::readZip(overlapping, error));
        QVERIFY2(error.find("a.txt: overlaps another entry") != std::string::npos, error.c_str());
        // A name that is a file and a directory.
        QVERIFY(!vigil::readZip(vigil::makeZip({{"a", "x"}, {"a/b", "y"}}), error));
        QVERIFY2(error.find("both as a file and as a directory") != std::string::npos, error.c_str());
        // A name with terminal escapes is named with them written out.
        QVERIFY(!vigil::readZip(vigil::makeZip({{"evil\x1b[2J.txt", "x"}}), error));
        QVERIFY2(error.find("evil\\x1b[2J.txt") != std::string::npos, error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestZip)
#include "tst_zip.moc"
