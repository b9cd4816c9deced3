// The mask stage's engine: every built-in detector on true values and on look-alikes that
// must not match, the operators, JSON paths and structured output, CSV columns, the stream
// masker at every split position, and the OpenAI SSE masker's framing.
#include <QElapsedTimer>
#include <QStringDecoder>
#include <QStringEncoder>
#include <QTest>

#include <nlohmann/json.hpp>

#include "mask/body_masker.h"
#include "mask/detectors.h"
#include "mask/json_path.h"
#include "mask/profile.h"
#include "mask/sse_masker.h"
#include "mask/stream_masker.h"
#include "vigil/json_text.h"

using namespace vigil;
using json = nlohmann::json;
using vigil::repairJsonText;

#define JSON_EQ(actual, expected) QVERIFY2((actual) == (expected), (actual).dump().c_str())

namespace {

const std::string kKey(32, 'k');

std::shared_ptr<const mask::Profile> profileOf(mask::ProfileSpec spec) {
    if (spec.entities.empty()) {
        for (const auto& d : mask::builtinDetectors()) spec.entities.push_back(d.entity);
    }
    std::string error;
    auto profile = mask::Profile::compile(std::move(spec), error);
    if (!profile) qFatal("profile: %s", error.c_str());
    return profile;
}

const mask::Profile& standard() {
    static const auto profile = profileOf({});
    return *profile;
}

// "type:value" for every value found, in order.
QStringList found(const mask::Profile& profile, std::string_view text) {
    std::vector<mask::Span> spans;
    profile.find(text, spans);
    QStringList out;
    for (const auto& s : spans) {
        out << QString::fromStdString(std::string(profile.entityOf(s)) + ":" + std::string(text.substr(s.begin, s.end - s.begin)));
    }
    return out;
}

std::string masked(const mask::Profile& profile, std::string_view text) {
    std::string out;
    profile.maskText(text, out, kKey, nullptr, "");
    return out;
}

std::string streamed(const mask::Profile& profile, const std::vector<std::string_view>& pieces) {
    mask::Summary summary;
    mask::StreamMasker masker(profile, kKey, summary, "content");
    std::string out;
    for (const auto p : pieces) masker.feed(p, out);
    masker.finish(out);
    return out;
}

}  // namespace

class TestMasker : public QObject {
    Q_OBJECT

private slots:
    void findsTrueValues_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const char* text, const char* expected) {
            QTest::newRow(name) << QString::fromUtf8(text) << QString::fromUtf8(expected);
        };
        row("visa spaced", "card 4111 1111 1111 1111, thanks", "CREDIT_CARD:4111 1111 1111 1111");
        row("mastercard plain", "pay with 5555555555554444.", "CREDIT_CARD:5555555555554444");
        row("card then expiry", "4242 4242 4242 4242 12/28 123", "CREDIT_CARD:4242 4242 4242 4242");
        row("plain card then expiry", "card 4242424242424242 9/2028", "CREDIT_CARD:4242424242424242");
        row("amex 4-6-5", "(378282246310005)", "CREDIT_CARD:378282246310005");
        row("amex dashed", "amex 3782-822463-10005 ok", "CREDIT_CARD:3782-822463-10005");
        row("mastercard 2-series", "use 2221000000000009 now", "CREDIT_CARD:2221000000000009");
        row("discover", "6011111111111117", "CREDIT_CARD:6011111111111117");
        row("jcb", "JCB 3530111333300000", "CREDIT_CARD:3530111333300000");
        row("ssn dashed", "SSN: 123-45-6789.", "US_SSN:123-45-6789");
        row("ssn spaced", "ssn 078 05 1120 on file", "US_SSN:078 05 1120");
        row("iban de", "IBAN DE89370400440532013000 please", "IBAN:DE89370400440532013000");
        row("iban gb grouped", "to GB82 WEST 1234 5698 7654 32.", "IBAN:GB82 WEST 1234 5698 7654 32");
        row("iban fr grouped", "FR14 2004 1010 0505 0001 3M02 606", "IBAN:FR14 2004 1010 0505 0001 3M02 606");
        row("email", "write to jane.doe+tag@mail.example.co.uk today", "EMAIL:jane.doe+tag@mail.example.co.uk");
        row("email in angle brackets", "<ops@example.org>", "EMAIL:ops@example.org");
        row("e164", "call +14155552671 now", "PHONE:+14155552671");
        row("e164 spaced", "+44 20 7946 0958", "PHONE:+44 20 7946 0958");
        row("us parens", "phone (415) 555-2671.", "PHONE:(415) 555-2671");
        row("us dashed", "415-555-2671", "PHONE:415-555-2671");
        row("us dotted", "415.555.2671", "PHONE:415.555.2671");
        row("uk national", "ring 020 7946 0958", "PHONE:020 7946 0958");
        row("uk mobile", "07700 900123", "PHONE:07700 900123");
        row("de national", "030 12345678", "PHONE:030 12345678");
        row("fr national", "01 23 45 67 89", "PHONE:01 23 45 67 89");
        row("ipv4", "from 192.168.1.254:", "IP_ADDRESS:192.168.1.254");
        row("ipv6 full", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "IP_ADDRESS:2001:0db8:85a3:0000:0000:8a2e:0370:7334");
        row("ipv6 compressed", "host 2001:db8::1 is up", "IP_ADDRESS:2001:db8::1");
        row("ipv6 loopback", "bind ::1 only", "IP_ADDRESS:::1");
        row("ipv6 link local", "fe80::1ff:fe23:4567:890a", "IP_ADDRESS:fe80::1ff:fe23:4567:890a");
        row("aws key", "AKIAIOSFODNN7EXAMPLE", "CLOUD_ACCESS_KEY:AKIAIOSFODNN7EXAMPLE");
        row("google key", "key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "CLOUD_ACCESS_KEY:AIzaSyA1234567890abcdefghijklmnopqrstuv");
        row("private key", "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\ny",
            "PRIVATE_KEY:-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----");
        row("jwt", "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U done",
            "JWT:eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U");
        row("bearer", "Authorization: Bearer 8f4e2a1b9c7d6e5f3a2b1c0d9e8f7a6b", "BEARER_TOKEN:8f4e2a1b9c7d6e5f3a2b1c0d9e8f7a6b");
        row("password=", "password=hunter2secret", "CREDENTIAL:hunter2secret");
        row("json credential", "{\"client_secret\": \"s3cr3t-Value_9\"}", "CREDENTIAL:s3cr3t-Value_9");
        row("api key colon", "API_KEY: Zx81kk2Lw", "CREDENTIAL:Zx81kk2Lw");
        row("two values", "mail a@example.com or call 415-555-2671",
            "EMAIL:a@example.com|PHONE:415-555-2671");
        // Shapes an adversarial review found passing (2026-11-23).
        row("us spaced", "call 415 555 2671 today", "PHONE:415 555 2671");
        row("us spaced after a label", "Tel.: 415 555 2671", "PHONE:415 555 2671");
        row("us parens spaced", "(415) 555 2671", "PHONE:(415) 555 2671");
        row("card dotted", "card 4111.1111.1111.1111.", "CREDIT_CARD:4111.1111.1111.1111");
        row("card with no-break spaces", "card 4111\u00a01111\u00a01111\u00a01111 ok", "CREDIT_CARD:4111\u00a01111\u00a01111\u00a01111");
        row("email accented domain", "jörg@bücher.de schreibt", "EMAIL:jörg@bücher.de");
        row("email accented local part", "Kontakt: françois.dupont@exemple.fr.", "EMAIL:françois.dupont@exemple.fr");
        row("email cyrillic", "пишите на почта@пример.рф сегодня", "EMAIL:почта@пример.рф");
        row("email punycode tld", "admin@xn--e1afmkfd.xn--p1ai", "EMAIL:admin@xn--e1afmkfd.xn--p1ai");
        row("email after cjk text", "请联系user@example.com谢谢", "EMAIL:user@example.com");
        row("email after a greek word", "στείλε στο: nikos@example.gr", "EMAIL:nikos@example.gr");
        row("email hebrew", "כתוב ל שלום@example.co.il", "EMAIL:שלום@example.co.il");
        // 64 bytes of local part right after a character of another script: the address is the
        // ASCII part, as before addresses in other scripts were read.
        row("email 63 letters after a cjk character", "系abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk@example.com",
            "EMAIL:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk@example.com");
        row("email 63 letters after an accented one", "éabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk@example.com",
            "EMAIL:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk@example.com");
        row("email before a double hyphen", "write to jane@example.com--I reply daily", "EMAIL:jane@example.com");
        row("email before a hyphenated word", "jane.doe@example.com-archive", "EMAIL:jane.doe@example.com");
        row("email before an underscore", "file jane.doe@example.com_2024.csv", "EMAIL:jane.doe@example.com");
        row("email percent-encoded in a url", "https://api.example.net/users?email=jane.doe%40example.com&page=2",
            "EMAIL:jane.doe%40example.com");
        row("email percent-encoded file name", "attachment; filename*=UTF-8''report%20for%20jane.doe%40example.com%3B",
            "EMAIL:jane.doe%40example.com");
        row("card percent-encoded", "q=card%3A%204111%201111%201111%201111", "CREDIT_CARD:4111%201111%201111%201111");
        row("iban in small letters", "my iban is de89370400440532013000.", "IBAN:de89370400440532013000");
        row("iban in small letters with a bank code", "gb82west12345698765432", "IBAN:gb82west12345698765432");
        row("pgp private key",
            "key:\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF0Ab1IBCADKy8Mz3vT2b9XQv1k4eN7g\n=Zx1c\n-----END PGP PRIVATE KEY BLOCK-----\nbye",
            "PRIVATE_KEY:-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF0Ab1IBCADKy8Mz3vT2b9XQv1k4eN7g\n=Zx1c\n-----END PGP PRIVATE KEY BLOCK-----");
    }
    void findsTrueValues() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        QCOMPARE(found(standard(), text.toStdString()).join(QLatin1Char('|')), expected);
    }

    void ignoresLookAlikes_data() {
        QTest::addColumn<QString>("text");
        auto row = [](const char* name, const char* text) { QTest::newRow(name) << QString::fromUtf8(text); };
        row("luhn invalid", "card 4111 1111 1111 1112");
        row("unknown issuer", "number 9111 1111 1111 1113");
        row("mixed separators", "4111 1111-1111 1111");
        row("order id", "order ORD-2024-000123 shipped, invoice INV-88213");
        row("long digit run", "ref 41111111111111119999");
        row("grouped number goes on", "ref 4111 1111 1111 1111 2222");
        row("grouped number goes on with a slash", "ref 4111 1111 1111 1111 12/345");
        row("isbn", "ISBN 978-3-16-148410-0");
        row("timestamp", "at 20240315123045");
        row("ssn area 000", "000-12-3456");
        row("ssn area 666", "666-12-3456");
        row("ssn area 9xx", "901-23-4567");
        row("ssn group 00", "123-00-4567");
        row("ssn serial 0000", "123-45-0000");
        row("zip+4", "San Francisco, CA 94105-1234");
        row("iban bad checksum", "DE89370400440532013001");
        row("iban wrong length", "DE8937040044053201300");
        row("iban unknown country", "XX89370400440532013000");
        row("date iso", "on 2024-03-15 at 12:30:45");
        row("date us", "on 03/15/2024");
        row("date eu", "am 15.03.2024");
        row("version 3 parts", "v1.2.3 and 2.14.0 and 1.0.0-rc.1");
        row("version 4 parts", "build 10.0.19045.2965");
        row("ip out of range", "256.1.2.3 and 300.300.300.300");
        row("ip three parts", "1.2.3 or 192.168.1");
        row("mac address", "00:1A:2B:3C:4D:5E");
        row("cpp scope", "use std::vector and Foo::Bar");
        row("serial", "SN 4471-889-2231 and PN-555-0199-22");
        row("short numbers", "call 911, extension 4321, price 1,299.00");
        row("nanp bad area", "123-456-7890");
        row("mention", "ping @username about it");
        row("spelled email", "user at example dot com");
        row("no tld", "foo@bar");
        row("aws wrong length", "AKIA12345 and AKIAEXAMPLE");
        row("certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        row("public key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----");
        row("jwt-like", "eyJhbGciOi and abc.def.ghi and com.example.app");
        row("bearer prose", "the bearer of this card; Bearer tokens are short-lived");
        row("credential prose", "your password must be 12 characters; the secret is safe; password: forgotten");
        row("nanp spaced bad area", "123 456 7890 and 415 155 2671");
        row("spaced number goes on", "sizes 128 512 256 1024 4096");
        row("three sizes", "RAM options: 256 512 1024 MB; ports 443 808 8080; at the hotel 415 555 2671");
        row("card with no-break spaces goes on", "ref 4111\u00a01111\u00a01111\u00a01111\u00a07 and 12\u00a04111\u00a01111\u00a01111\u00a01111");
        row("dotted card goes on", "oid 4111.1111.1111.1111.7");
        row("dotted luhn invalid", "4111.1111.1111.1112");
        row("host name after an address", "ssh a@b.com-x.c and git@host.internal-x.y");
        row("hex string like a small-letter iban", "sha de52a1b2c3d4e5f6a7b8c9 ok");  // passes mod-97
        row("small-letter iban bad checksum", "de89370400440532013001");
        row("percent signs", "50% off, 100%25 sure, jane%2540example.com");
        row("pgp public key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQENBF0Ab1I\n-----END PGP PUBLIC KEY BLOCK-----");
        row("at sign in cjk text", "用户@例子.广告 and @имя");
    }
    void ignoresLookAlikes() {
        QFETCH(QString, text);
        QCOMPARE(found(standard(), text.toStdString()).join(QLatin1Char('|')), QString());
    }

    // With the hash operator, one address in other capitals gives one token.
    void emailTokensIgnoreCaseInEveryScript() {
        QCOMPARE(mask::builtinDetectors().size() > 0, true);
        const mask::Detector* email = nullptr;
        for (const auto& d : mask::builtinDetectors()) {
            if (d.entity == "EMAIL") email = &d;
        }
        QVERIFY(email && email->normalize);
        QCOMPARE(email->normalize("JÖRG@BÜCHER.DE"), email->normalize("jörg@bücher.de"));
        QCOMPARE(email->normalize("ПОЧТА@ПРИМЕР.РФ"), std::string("почта@пример.рф"));
        QCOMPARE(email->normalize("ΝΊΚΟΣ@EXAMPLE.GR"), email->normalize("νίκοσ@example.gr"));
        QCOMPARE(email->normalize("Ž×@x.cz"), std::string("ž×@x.cz"));
    }

    void checksums() {
        QVERIFY(mask::luhnValid("4111111111111111"));
        QVERIFY(!mask::luhnValid("4111111111111112"));
        QVERIFY(mask::cardIssuerKnown("378282246310005"));
        QVERIFY(!mask::cardIssuerKnown("9111111111111111"));
        QVERIFY(mask::ibanValid("GB82WEST12345698765432"));
        QVERIFY(!mask::ibanValid("GB82WEST12345698765433"));
        QVERIFY(mask::ssnValid("078", "05", "1120"));
        QVERIFY(!mask::ssnValid("666", "05", "1120"));
    }

    void operators() {
        mask::ProfileSpec spec;
        spec.operators["CREDIT_CARD"] = {mask::OperatorSpec::Kind::KeepLast, 4};
        spec.operators["EMAIL"] = {mask::OperatorSpec::Kind::Hash, 0};
        const auto profile = profileOf(spec);
        QCOMPARE(masked(*profile, "card 4111 1111 1111 1111."), std::string("card ****1111."));
        QCOMPARE(masked(*profile, "ssn 123-45-6789"), std::string("ssn [US_SSN]"));
        const auto a = masked(*profile, "Jane@Example.com");
        const auto b = masked(*profile, "jane@example.com");
        const auto c = masked(*profile, "john@example.com");
        QVERIFY(a.starts_with("[EMAIL:") && a.size() == 24);
        QCOMPARE(a, b);  // the same address however it is cased: reports can join on it
        QVERIFY(a != c);
        // Greek capitals and small letters with a final sigma fold alike.
        QCOMPARE(masked(*profile, "ΝΙΚΟΣ@example.gr"), masked(*profile, "νικος@example.gr"));
        // Another key gives other tokens.
        std::string other;
        profile->maskText("jane@example.com", other, std::string(32, 'x'), nullptr, "");
        QVERIFY(other != a);
        // The same card written two ways hashes the same.
        mask::ProfileSpec hashCards;
        hashCards.operators["CREDIT_CARD"] = {mask::OperatorSpec::Kind::Hash, 0};
        const auto hashing = profileOf(hashCards);
        QCOMPARE(masked(*hashing, "4111-1111-1111-1111"), masked(*hashing, "4111111111111111"));
        // A value written percent-encoded is replaced encoded (the URL stays one), with the
        // token of the value written plainly; a small-letter IBAN hashes like the capital one.
        QCOMPARE(masked(standard(), "/v1/users?email=jane%40example.com&page=2"),
                 std::string("/v1/users?email=%5BEMAIL%5D&page=2"));
        QCOMPARE(masked(*profile, "?to=Jane%40Example.com"), "?to=%5BEMAIL%3A" + b.substr(7, 16) + "%5D");
        mask::ProfileSpec hashIbans;
        hashIbans.operators["IBAN"] = {mask::OperatorSpec::Kind::Hash, 0};
        const auto ibans = profileOf(hashIbans);
        QCOMPARE(masked(*ibans, "de89370400440532013000"), masked(*ibans, "DE89 3704 0044 0532 0130 00"));
    }

    void customDetectors() {
        mask::ProfileSpec spec;
        spec.entities = {"EMAIL"};
        spec.custom.push_back({"PROJECT_CODE", "PRJ-[0-9]{6}", {}, false});
        spec.custom.push_back({"CODENAME", "", {"bluebird", "night jar"}, false});
        const auto profile = profileOf(spec);
        QCOMPARE(masked(*profile, "PRJ-123456 is Bluebird, not bluebirds; Night Jar too"),
                 std::string("[PROJECT_CODE] is [CODENAME], not bluebirds; [CODENAME] too"));
        std::string error;
        QVERIFY(!mask::checkCustomRegex("secret-\\w+", false, error));
        QVERIFY2(error.find("bound its repetitions") != std::string::npos, error.c_str());
        QVERIFY(!mask::checkCustomRegex("a*", false, error));
        QVERIFY(!mask::checkCustomRegex("(unclosed", false, error));
        QVERIFY(mask::checkCustomRegex("K-[0-9]{1,12}", false, error));
    }

    void jsonPaths() {
        std::string error;
        const auto p = mask::JsonPath::parse("$.data[*].amount", error);
        QVERIFY2(p, error.c_str());
        using T = std::vector<mask::PathToken>;
        QVERIFY(p->matches(T{std::string_view("data"), std::size_t{3}, std::string_view("amount")}));
        QVERIFY(!p->matches(T{std::string_view("data"), std::string_view("amount")}));
        const auto d = mask::JsonPath::parse("$..ssn", error);
        QVERIFY(d->matches(T{std::string_view("a"), std::size_t{0}, std::string_view("ssn")}));
        QVERIFY(d->matches(T{std::string_view("ssn")}));
        QVERIFY(!d->matches(T{std::string_view("ssn"), std::string_view("x")}));
        QVERIFY(mask::JsonPath::parse("$['odd key'][0]", error));
        for (const char* bad : {"", "data.x", "$", "$.", "$[?(@.a)]", "$.a[1:2]", "$.a[0"}) {
            QVERIFY2(!mask::JsonPath::parse(bad, error), bad);
            QVERIFY(!error.empty());
        }
    }

    void structuredJsonAndStructuredOutput() {
        mask::ProfileSpec spec;
        spec.fields = {{"$..account_number", "ACCOUNT_NUMBER"}, {"$.data[*].amount", "AMOUNT"}};
        mask::BodyMasker masker(profileOf(spec), kKey);
        // A data API's JSON: fields by path, other strings by the detectors.
        const std::string body =
            "{\"data\":[{\"account_number\":\"12345678\",\"amount\":99.5,\"note\":\"mail bob@example.com\"}],\"meta\":{\"amount\":1}}";
        std::string out;
        QCOMPARE(masker.maskBody("application/json", body, out), std::size_t{3});
        const auto j = json::parse(out);
        JSON_EQ(j["data"][0]["account_number"], json("[ACCOUNT_NUMBER]"));
        JSON_EQ(j["data"][0]["amount"], json("[AMOUNT]"));
        JSON_EQ(j["data"][0]["note"], json("mail [EMAIL]"));
        JSON_EQ(j["meta"]["amount"], json(1));  // not under $.data[*]
        QCOMPARE(masker.summary().count("AMOUNT"), std::uint64_t{1});
        QCOMPARE(masker.summary().entries().front().where, std::string("data[0].account_number"));

        // Structured output: the reply's content is itself JSON; its own root anchors the paths.
        mask::BodyMasker second(profileOf(spec), kKey);
        const json reply = {{"choices", json::array({{{"index", 0},
                                                     {"message", {{"role", "assistant"},
                                                                  {"content", "{\"data\":[{\"amount\":5,\"ssn\":\"123-45-6789\"}],\"account_number\":\"DE89370400440532013000\"}"}}}}})}};
        out.clear();
        second.maskBody("application/json", reply.dump(), out);
        const auto content = json::parse(json::parse(out)["choices"][0]["message"]["content"].get<std::string>());
        JSON_EQ(content["data"][0]["amount"], json("[AMOUNT]"));
        JSON_EQ(content["data"][0]["ssn"], json("[US_SSN]"));
        JSON_EQ(content["account_number"], json("[ACCOUNT_NUMBER]"));
        // Nothing to mask: the bytes come back as they were.
        mask::BodyMasker third(profileOf(spec), kKey);
        out.clear();
        const std::string clean = "{\"a\" : \"hello\",  \"b\":[1,2]}";
        QCOMPARE(third.maskBody("application/json", clean, out), std::size_t{0});
        QCOMPARE(out, clean);
    }

    void textualAndBinaryBodies() {
        mask::BodyMasker masker(profileOf({}), kKey);
        std::string out;
        QCOMPARE(masker.maskBody("text/plain; charset=utf-8", "ssn 123-45-6789", out), std::size_t{1});
        QCOMPARE(out, std::string("ssn [US_SSN]"));
        // Audio, images and uploads are passed on as they are: no byte inside is rewritten.
        const std::string binary = std::string("ID3\x04\x00 4111 1111 1111 1111 \xff\xfe", 28);
        for (const char* type : {"audio/mpeg", "image/png", "application/octet-stream", "multipart/form-data; boundary=x"}) {
            out.clear();
            QCOMPARE(masker.maskBody(type, binary, out), std::size_t{0});
            QCOMPARE(out, binary);
        }
        // No content type: text when it is UTF-8.
        out.clear();
        QCOMPARE(masker.maskBody("", "mail a@example.com", out), std::size_t{1});
        out.clear();
        QCOMPARE(masker.maskBody("", binary, out), std::size_t{0});
        // "octet-stream" says nothing of the content: JSON or CSV labelled so is still read
        // (a data API's download, a server that labels everything so), as its readers do.
        out.clear();
        QCOMPARE(masker.maskBody("application/octet-stream", "{\"note\": \"ssn 123-45-6789\"}", out), std::size_t{1});
        QCOMPARE(out, std::string("{\"note\":\"ssn [US_SSN]\"}"));
        out.clear();
        QCOMPARE(masker.maskBody("binary/octet-stream", "name,ssn\nJo,123-45-6789\n", out), std::size_t{1});
        QVERIFY(out.find("123-45-6789") == std::string::npos);
        // Zero bytes mark a binary format even when every byte is ASCII (a tar of text files).
        const std::string tar = std::string("notes.txt\0\0\0ssn 123-45-6789\0\0", 29);
        out.clear();
        QCOMPARE(masker.maskBody("application/octet-stream", tar, out), std::size_t{0});
        QCOMPARE(out, tar);
    }

    // UTF-16 and UTF-32 text (Python's requests and .NET read JSON so) is masked as what it
    // says and sent back in its own encoding, byte order and mark; the bytes of the values
    // are nowhere in it.
    void wideTextIsMaskedInItsOwnEncoding() {
        mask::BodyMasker masker(profileOf({}), kKey);
        const auto encode = [](QStringEncoder::Encoding encoding, const QString& text, const QByteArray& bom = {}) {
            QStringEncoder encoder(encoding, QStringConverter::Flag::Stateless);
            const QByteArray bytes = bom + QByteArray(encoder(text));
            return std::string(bytes.constData(), static_cast<std::size_t>(bytes.size()));
        };
        const auto decode = [](QStringDecoder::Encoding encoding, const std::string& bytes, int skip) {
            QStringDecoder decoder(encoding, QStringConverter::Flag::Stateless);
            return QString(decoder(QByteArrayView(bytes.data() + skip, static_cast<qsizetype>(bytes.size()) - skip)));
        };
        const QString document = QStringLiteral("{\"note\": \"\U0001F600 ssn 123-45-6789, mail jane@example.com\"}");
        const QString masked = QStringLiteral("{\"note\":\"\U0001F600 ssn [US_SSN], mail [EMAIL]\"}");
        struct Case {
            const char* type;
            QStringConverter::Encoding encoding;
            QByteArray bom;
        };
        const QList<Case> cases = {
            {"application/json", QStringConverter::Utf16LE, QByteArray("\xFF\xFE", 2)},
            {"application/json", QStringConverter::Utf16BE, QByteArray("\xFE\xFF", 2)},
            {"application/json; charset=utf-16be", QStringConverter::Utf16BE, {}},
            {"application/json; charset=\"UTF-16\"", QStringConverter::Utf16LE, {}},
            {"application/json", QStringConverter::Utf16LE, {}},  // no mark, no charset: the zero bytes tell
            {"text/plain", QStringConverter::Utf16BE, {}},
            {"application/json", QStringConverter::Utf32LE, QByteArray("\xFF\xFE\x00\x00", 4)},
            {"application/json; charset=utf-32be", QStringConverter::Utf32BE, {}},
            {"application/octet-stream", QStringConverter::Utf16LE, QByteArray("\xFF\xFE", 2)},
        };
        for (const auto& c : cases) {
            const auto body = encode(c.encoding, document, c.bom);
            std::string out;
            QCOMPARE(masker.maskBody(c.type, body, out), std::size_t{2});
            QVERIFY2(out.starts_with(std::string(c.bom.constData(), static_cast<std::size_t>(c.bom.size()))), c.type);
            QCOMPARE(decode(c.encoding, out, static_cast<int>(c.bom.size())), masked);
            for (const auto* value : {u"123-45-6789", u"jane@example.com"}) {
                const auto raw = encode(c.encoding, QString::fromUtf16(value));
                QVERIFY2(out.find(raw) == std::string::npos, c.type);
            }
            // Nothing to mask: the bytes as they came.
            const auto clean = encode(c.encoding, QStringLiteral("{\"note\": \"hello\"}"), c.bom);
            out.clear();
            QCOMPARE(masker.maskBody(c.type, clean, out), std::size_t{0});
            QVERIFY(out == clean);
        }
        // The label is not the reading: UTF-8 labelled UTF-16 is read as UTF-8 by JSON readers
        // (json.loads, fetch), so it is masked as UTF-8; charset names in other spellings, and
        // UTF-16 labelled UTF-8, are read by their bytes.
        std::string out;
        for (const char* type : {"application/json; charset=utf-16le", "text/plain; charset=utf-16", "application/octet-stream; charset=utf-16le"}) {
            out.clear();
            QCOMPARE(masker.maskBody(type, "{\"note\": \"ssn 123-45-6789\"}", out), std::size_t{1});
            QVERIFY2(out.find("123-45-6789") == std::string::npos, type);
        }
        for (const char* type : {"application/json; charset=UTF_16LE", "application/json; charset=ucs-2", "application/json; charset=utf-8",
                                 "text/csv; charset=utf16le"}) {
            const auto body = encode(QStringConverter::Utf16LE, document);
            out.clear();
            QCOMPARE(masker.maskBody(type, body, out), std::size_t{2});
            QCOMPARE(decode(QStringConverter::Utf16LE, out, 0), masked);
        }
        // No type at all: text with a zero byte in it is still text (as before).
        out.clear();
        QCOMPARE(masker.maskBody("", std::string("card 4111111111111111\0", 22), out), std::size_t{1});
        QVERIFY(out.find("4111111111111111") == std::string::npos);
        // A binary type that happens to start like a mark is not text.
        const auto png = encode(QStringConverter::Utf16LE, document, QByteArray("\xFF\xFE", 2));
        out.clear();
        QCOMPARE(masker.maskBody("image/png", png, out), std::size_t{0});
        QVERIFY(out == png);
        // Nor is an octet-stream whose units do not decode cleanly (a lone surrogate).
        const auto broken = png + std::string("\x00\xD8\x41\x00", 4);
        out.clear();
        QCOMPARE(masker.maskBody("application/octet-stream", broken, out), std::size_t{0});
        QVERIFY(out == broken);
        // Declared text is read as lenient readers read it: the lone surrogate as U+FFFD.
        out.clear();
        QCOMPARE(masker.maskBody("application/json", broken, out), std::size_t{2});
        QVERIFY(out.find(encode(QStringConverter::Utf16LE, QStringLiteral("123-45-6789"))) == std::string::npos);
    }

    void csvColumns() {
        mask::ProfileSpec spec;
        spec.entities = {"EMAIL"};
        spec.columns = {{"ssn", "US_SSN"}, {"Account", "FIELD"}};
        const auto profile = profileOf(spec);
        const std::string text =
            "Here is the table:\nname,SSN,account,email\nAnn,123-45-6789,\"AC 1\",ann@example.com\nBob,987-65-4321,AC2,bob@example.com\n\nDone.";
        QCOMPARE(masked(*profile, text),
                 std::string("Here is the table:\nname,SSN,account,email\nAnn,[US_SSN],\"[FIELD]\",[EMAIL]\nBob,[US_SSN],[FIELD],[EMAIL]\n\nDone."));
        // Semicolons and tabs too; a header without the column leaves the table alone.
        QCOMPARE(masked(*profile, "ssn;x\n1;2\n"), std::string("ssn;x\n[US_SSN];2\n"));
        QCOMPARE(masked(*profile, "a,b\n1,2\n"), std::string("a,b\n1,2\n"));
    }

    // A streamed table keeps its header in view however long the table grows (the stream
    // masker's usual left context is 64 bytes): streamed in any pieces, it is masked as the
    // whole text is.
    void csvColumnsStreamed() {
        mask::ProfileSpec spec;
        spec.entities = {"EMAIL"};
        spec.columns = {{"ssn", "US_SSN"}, {"Account", "FIELD"}};
        const auto profile = profileOf(spec);
        std::string text = "Here is the export you asked for:\n"
                           "customer_full_name,customer_segment,ssn,account,registered_email_address\n";
        for (int i = 0; i < 40; ++i) {
            text += "Customer Number " + std::to_string(i) + ",enterprise," + std::to_string(100 + i) + "-45-6789,AC-" +
                    std::to_string(9000 + i) + ",c" + std::to_string(i) + "@example.com\n";
        }
        text += "\nAnd a second table:\nname;Account\nAnn;secret-1\nBob;secret-2\n\nDone.";
        const auto expected = masked(*profile, text);
        QVERIFY(expected.find("AC-9039") == std::string::npos && expected.find("secret-2") == std::string::npos);
        QVERIFY(expected.find("[FIELD]") != std::string::npos);
        const std::string_view v(text);
        for (const std::size_t piece : {1, 2, 7, 64, 500}) {
            std::vector<std::string_view> pieces;
            for (std::size_t i = 0; i < v.size(); i += piece) pieces.push_back(v.substr(i, piece));
            QCOMPARE(streamed(*profile, pieces), expected);
        }
        // A header that arrives alone, its rows long after.
        QCOMPARE(streamed(*profile, {"intro\ncolumn_number_one_is_long,column_number_two_is_longer,ssn\n",
                                     "a,b,123-45-6789\n", "c,d,987-65-4321\n"}),
                 masked(*profile, "intro\ncolumn_number_one_is_long,column_number_two_is_longer,ssn\na,b,123-45-6789\nc,d,987-65-4321\n"));
    }

    // A value split anywhere over two or three pieces is masked exactly as in one piece.
    void streamAtEverySplit_data() {
        QTest::addColumn<QString>("text");
        for (const char* t : {"Your card 4111 1111 1111 1111 expires soon.", "SSN 123-45-6789, email jane.doe@example.com!",
                              "IBAN: GB82 WEST 1234 5698 7654 32 (UK)", "Authorization: Bearer 8f4e2a1b9c7d6e5f3a2b1c0d9e8f7a6b ok",
                              "password=hunter2secret and key AKIAIOSFODNN7EXAMPLE.", "call +44 20 7946 0958 or 2001:db8::1",
                              "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\nthanks",
                              "schreib jörg@bücher.de oder почта@пример.рф",
                              "iban GB82 WEST 1234 5698 7654 32, card 4111\u00a01111\u00a01111\u00a01111, tel 415 555 2671.",
                              "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0Ab1IBCADKy8Mz3vT2b9XQv1k4eN7g\n=Zx1c\n-----END PGP PRIVATE KEY BLOCK-----\n",
                              "see /u?email=jane.doe%40example.com&n=1, jane@example.com--bye; iban de89370400440532013000.",
                              "q=card%3A%204111%201111%201111%201111&tel=%2B44%2020%207946%200958"}) {
            QTest::newRow(t) << QString::fromUtf8(t);
        }
    }
    void streamAtEverySplit() {
        QFETCH(QString, text);
        const auto s = text.toStdString();
        const auto expected = masked(standard(), s);
        QVERIFY(expected != s);
        for (std::size_t i = 0; i <= s.size(); ++i) {
            const std::string_view v(s);
            QCOMPARE(streamed(standard(), {v.substr(0, i), v.substr(i)}), expected);
        }
        for (std::size_t i = 0; i <= s.size(); i += 3) {
            for (std::size_t j = i; j <= s.size(); j += 2) {
                const std::string_view v(s);
                QCOMPARE(streamed(standard(), {v.substr(0, i), v.substr(i, j - i), v.substr(j)}), expected);
            }
        }
        // One byte at a time, as a slow stream might.
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < s.size(); ++i) bytes.push_back(std::string_view(s).substr(i, 1));
        QCOMPARE(streamed(standard(), bytes), expected);
    }

    // A profile that masks cards alone still holds a percent-encoded card back whole.
    void streamHoldsEncodedValues() {
        mask::ProfileSpec spec;
        spec.entities = {"CREDIT_CARD", "PHONE"};
        const auto profile = profileOf(spec);
        const std::string s = "q=card%3A%204111%201111%201111%201111&tel=%2B44%2020%207946%200958";
        const auto expected = masked(*profile, s);
        QCOMPARE(expected, std::string("q=card%3A%20%5BCREDIT_CARD%5D&tel=%5BPHONE%5D"));
        for (std::size_t i = 0; i <= s.size(); ++i) {
            const std::string_view v(s);
            mask::Summary summary;
            mask::StreamMasker masker(*profile, kKey, summary, "content");
            std::string out;
            masker.feed(v.substr(0, i), out);
            masker.feed(v.substr(i), out);
            masker.finish(out);
            QCOMPARE(out, expected);
        }
    }

    // Prose is released at once but for its last word; digits wait for the number to end.
    void streamHoldsBackLittle() {
        mask::Summary summary;
        mask::StreamMasker masker(standard(), kKey, summary, "content");
        std::string out;
        masker.feed("The quick brown fox jumps over the lazy", out);
        QCOMPARE(out, std::string("The quick brown fox jumps over the "));
        masker.feed(" dog. Card 4111 1111", out);
        QCOMPARE(out, std::string("The quick brown fox jumps over the lazy dog. Card"));
        masker.feed(" 1111 1111 now", out);
        QCOMPARE(out, std::string("The quick brown fox jumps over the lazy dog. Card [CREDIT_CARD] "));
        masker.finish(out);
        QCOMPARE(out, std::string("The quick brown fox jumps over the lazy dog. Card [CREDIT_CARD] now"));
        QCOMPARE(summary.count("CREDIT_CARD"), std::uint64_t{1});
        QVERIFY(standard().maxHold() <= 8192);
    }

    void sseChatStreamSplitOverEvents() {
        mask::BodyMasker body(std::shared_ptr<const mask::Profile>(&standard(), [](const mask::Profile*) {}), kKey);
        mask::SseMasker sse(body);
        auto chunk = [](const json& delta, const json& finish = nullptr) {
            const json c = {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "m"},
                            {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}}})}};
            return "data: " + c.dump() + "\n\n";
        };
        std::string out;
        sse.event(chunk({{"role", "assistant"}, {"content", ""}}), out);
        sse.event(chunk({{"content", "Card 4111 11"}}), out);
        sse.event(chunk({{"content", "11 1111 1"}}), out);
        sse.event(chunk({{"content", "111 ok, mail x@exa"}}), out);
        sse.event(chunk({{"content", "mple.com"}}), out);
        sse.event(chunk(json::object(), "stop"), out);
        sse.event("data: [DONE]\n\n", out);
        // Every event is valid SSE with JSON data; the content adds up to the masked text.
        std::string content;
        int events = 0;
        std::size_t at = 0;
        while (at < out.size()) {
            const auto end = out.find("\n\n", at);
            QVERIFY(end != std::string::npos);
            const auto event = out.substr(at, end - at);
            at = end + 2;
            QVERIFY2(event.starts_with("data: "), event.c_str());
            ++events;
            if (event == "data: [DONE]") continue;
            const auto j = json::parse(event.substr(6));
            const auto& delta = j["choices"][0]["delta"];
            if (delta.contains("content")) content += delta["content"].get<std::string>();
        }
        QCOMPARE(events, 7);
        QCOMPARE(content, std::string("Card [CREDIT_CARD] ok, mail [EMAIL]"));
        QVERIFY(out.find("4111") == std::string::npos);
        QCOMPARE(body.summary().count("CREDIT_CARD"), std::uint64_t{1});
        QCOMPARE(body.summary().entries().front().where, std::string("choices[0].delta.content"));
    }

    // Field rules (json_paths) apply to structured output and tool arguments streamed over
    // many events, as they do to a buffered answer: such a text is held whole until its choice
    // finishes. Prose under the same profile still streams.
    void sseStructuredOutputGetsTheFieldRules() {
        mask::ProfileSpec spec;
        spec.fields = {{"$..account_number", "ACCOUNT_NUMBER"}, {"$.data[*].amount", "AMOUNT"}};
        mask::BodyMasker body(profileOf(spec), kKey);
        mask::SseMasker sse(body);
        auto chunk = [](const json& delta, const json& finish = nullptr, int index = 0) {
            const json c = {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "m"},
                            {"choices", json::array({{{"index", index}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}}})}};
            return "data: " + c.dump() + "\n\n";
        };
        // Content of each choice per event, in order.
        auto contents = [](const std::string& out, int index) {
            std::vector<std::string> parts;
            std::size_t at = 0;
            while ((at = out.find("data: {", at)) != std::string::npos) {
                const auto end = out.find("\n\n", at);
                const auto j = json::parse(out.substr(at + 6, end - at - 6));
                for (const auto& c : j["choices"]) {
                    if (c["index"] != index) continue;
                    const auto& d = c["delta"];
                    if (d.contains("content")) parts.push_back(d["content"].get<std::string>());
                    for (const auto& call : d.value("tool_calls", json::array())) {
                        parts.push_back(call["function"]["arguments"].get<std::string>());
                    }
                }
                at = end;
            }
            return parts;
        };
        auto joined = [](const std::vector<std::string>& parts) {
            std::string all;
            for (const auto& p : parts) all += p;
            return all;
        };
        std::string out;
        sse.event(chunk({{"role", "assistant"}, {"content", ""}}), out);
        sse.event(chunk({{"content", "  {\"data\":[{\"amount\":"}}), out);
        sse.event(chunk({{"content", "12.5,\"note\":\"mail bob@exa"}}), out);
        sse.event(chunk({{"content", "mple.com\"}],\"account_num"}}), out);
        sse.event(chunk({{"content", "ber\":\"ACC-778899\"}"}}), out);
        sse.event(chunk({{"content", "Plain prose goes out "}}, nullptr, 1), out);
        QCOMPARE(joined(contents(out, 0)), std::string());  // nothing of the document yet
        QVERIFY2(joined(contents(out, 1)).starts_with("Plain prose goes out"), out.c_str());
        sse.event(chunk(json::object(), "stop"), out);
        sse.event(chunk({{"content", "as it comes."}}, "stop", 1), out);
        sse.event("data: [DONE]\n\n", out);
        QVERIFY(out.find("ACC-778899") == std::string::npos);
        QVERIFY(out.find("12.5") == std::string::npos);
        QVERIFY(out.find("bob@") == std::string::npos);
        const auto document = json::parse(joined(contents(out, 0)));
        JSON_EQ(document["data"][0]["amount"], json("[AMOUNT]"));
        JSON_EQ(document["data"][0]["note"], json("mail [EMAIL]"));
        JSON_EQ(document["account_number"], json("[ACCOUNT_NUMBER]"));
        QCOMPARE(joined(contents(out, 1)), std::string("Plain prose goes out as it comes."));
        QCOMPARE(body.summary().count("ACCOUNT_NUMBER"), std::uint64_t{1});
        QVERIFY(out.ends_with("data: [DONE]\n\n"));

        // Tool arguments, finished by the choice's finish_reason.
        mask::BodyMasker body2(profileOf(spec), kKey);
        mask::SseMasker sse2(body2);
        out.clear();
        auto call = [](const char* arguments) {
            return json{{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", arguments}}}}})}};
        };
        sse2.event(chunk(call("{\"account_")), out);
        sse2.event(chunk(call("number\": \"ACC-1\"}")), out);
        sse2.event(chunk(json::object(), "tool_calls"), out);
        QVERIFY(out.find("ACC-1") == std::string::npos);
        JSON_EQ(json::parse(joined(contents(out, 0)))["account_number"], json("[ACCOUNT_NUMBER]"));

        // A document the stream never finished goes out before [DONE], masked as text.
        mask::BodyMasker body3(profileOf(spec), kKey);
        mask::SseMasker sse3(body3);
        out.clear();
        sse3.event(chunk({{"content", "{\"account_number\":\"ACC-2\",\"note\":\"x@example.com"}}), out);
        sse3.event("data: [DONE]\n\n", out);
        QVERIFY(out.find("x@example") == std::string::npos);
        QCOMPARE(joined(contents(out, 0)), std::string("{\"account_number\":\"ACC-2\",\"note\":\"[EMAIL]"));
        QVERIFY(out.ends_with("data: [DONE]\n\n"));

        // Responses API: the document goes out as one delta before its .done event.
        mask::BodyMasker body4(profileOf(spec), kKey);
        mask::SseMasker sse4(body4);
        out.clear();
        auto delta = [](const char* text) {
            const json e = {{"type", "response.output_text.delta"}, {"item_id", "msg_1"}, {"output_index", 0},
                            {"content_index", 0}, {"delta", text}};
            return "event: response.output_text.delta\ndata: " + e.dump() + "\n\n";
        };
        sse4.event(delta("{\"account_number\":"), out);
        sse4.event(delta("\"ACC-3\"}"), out);
        const json done = {{"type", "response.output_text.done"}, {"item_id", "msg_1"}, {"output_index", 0},
                           {"content_index", 0}, {"text", "{\"account_number\":\"ACC-3\"}"}};
        sse4.event("event: response.output_text.done\ndata: " + done.dump() + "\n\n", out);
        QVERIFY2(out.find("ACC-3") == std::string::npos, out.c_str());
        std::string text;
        std::size_t at = 0;
        while ((at = out.find("data: ", at)) != std::string::npos) {
            const auto end = out.find("\n\n", at);
            const auto j = json::parse(out.substr(at + 6, end - at - 6));
            if (j["type"] == "response.output_text.delta") text += j["delta"].get<std::string>();
            at = end;
        }
        JSON_EQ(json::parse(text)["account_number"], json("[ACCOUNT_NUMBER]"));
    }

    void sseHeldTextGoesOutBeforeDone() {
        mask::BodyMasker body(std::shared_ptr<const mask::Profile>(&standard(), [](const mask::Profile*) {}), kKey);
        mask::SseMasker sse(body);
        std::string out;
        sse.event("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ends with 123-45-6789\"}}]}"
                  "\n\n",
                  out);
        QVERIFY(out.find("6789") == std::string::npos);
        sse.event("data: [DONE]\n\n", out);
        QVERIFY2(out.find("\"content\":\" [US_SSN]\"") != std::string::npos, out.c_str());
        QVERIFY(out.ends_with("data: [DONE]\n\n"));
    }

    // Responses API: output_text deltas are one text; what is held goes out before .done,
    // whose full text is masked too.
    void sseResponsesApiDeltas() {
        mask::BodyMasker body(std::shared_ptr<const mask::Profile>(&standard(), [](const mask::Profile*) {}), kKey);
        mask::SseMasker sse(body);
        auto delta = [](const char* text) {
            const json e = {{"type", "response.output_text.delta"}, {"item_id", "msg_1"}, {"output_index", 0},
                            {"content_index", 0}, {"delta", text}};
            return "event: response.output_text.delta\ndata: " + e.dump() + "\n\n";
        };
        std::string out;
        sse.event(delta("call 415-555"), out);
        sse.event(delta("-2671 or mail x@example"), out);
        sse.event(delta(".com"), out);
        const json done = {{"type", "response.output_text.done"}, {"item_id", "msg_1"}, {"output_index", 0},
                           {"content_index", 0}, {"text", "call 415-555-2671 or mail x@example.com"}};
        sse.event("event: response.output_text.done\ndata: " + done.dump() + "\n\n", out);
        QVERIFY(out.find("2671") == std::string::npos);
        QVERIFY(out.find("x@example") == std::string::npos);
        std::string text;
        std::string doneText;
        std::size_t at = 0;
        while ((at = out.find("data: ", at)) != std::string::npos) {
            const auto end = out.find("\n\n", at);
            const auto j = json::parse(out.substr(at + 6, end - at - 6));
            if (j["type"] == "response.output_text.delta") text += j["delta"].get<std::string>();
            if (j["type"] == "response.output_text.done") doneText = j["text"].get<std::string>();
            at = end;
        }
        QCOMPARE(text, std::string("call [PHONE] or mail [EMAIL]"));
        QCOMPARE(doneText, text);
        QVERIFY(out.find("event: response.output_text.done\n") != std::string::npos);
    }

    void sseToolArgumentsAndLogprobs() {
        mask::BodyMasker body(std::shared_ptr<const mask::Profile>(&standard(), [](const mask::Profile*) {}), kKey);
        mask::SseMasker sse(body);
        std::string out;
        sse.event("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"email\\\":\\\"ann@exam\"}}]},\"logprobs\":{\"content\":[{\"token\":\"ann\"}]}}]}"
                  "\n\n",
                  out);
        sse.event("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ple.com\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}"
                  "\n\n",
                  out);
        QVERIFY(out.find("ann@") == std::string::npos);
        QVERIFY(out.find("\"logprobs\":null") != std::string::npos);
        std::string arguments;
        std::size_t at = 0;
        while ((at = out.find("data: ", at)) != std::string::npos) {
            const auto end = out.find("\n\n", at);
            const auto j = json::parse(out.substr(at + 6, end - at - 6));
            for (const auto& call : j["choices"][0]["delta"].value("tool_calls", json::array())) {
                arguments += call["function"]["arguments"].get<std::string>();
            }
            at = end;
        }
        QCOMPARE(arguments, std::string("{\"email\":\"[EMAIL]\"}"));
    }

    // From an adversarial review: what the structural walk used to let through.

    void jsonNamesAndNumbersAreMaskedToo() {
        mask::BodyMasker masker(profileOf({}), kKey);
        const std::string body =
            "{\"created\":1763856000,\"users\":{\"jane.doe@example.com\":{\"card\":4111111111111111,\"n\":2}},"
            "\"a@example.com\":1,\"b@example.com\":2}";
        std::string out;
        QCOMPARE(masker.maskBody("application/json", body, out), std::size_t{4});
        QVERIFY2(out.find("jane") == std::string::npos && out.find("4111") == std::string::npos, out.c_str());
        const auto j = json::parse(out);
        JSON_EQ(j["users"]["[EMAIL]"]["card"], json("[CREDIT_CARD]"));
        JSON_EQ(j["users"]["[EMAIL]"]["n"], json(2));
        JSON_EQ(j["created"], json(1763856000));  // numbers no detector finds stay numbers
        JSON_EQ(j["[EMAIL]"], json(1));            // two names masked alike stay two members
        JSON_EQ(j["[EMAIL] #2"], json(2));
        // The places in the summary are built from the masked names, never the raw ones.
        for (const auto& e : masker.summary().entries()) QVERIFY2(e.where.find("jane") == std::string::npos, e.where.c_str());
        // Structured output with numbers, as a model writes it.
        mask::BodyMasker second(profileOf({}), kKey);
        const json reply = {{"choices", json::array({{{"index", 0},
                                                     {"message", {{"role", "assistant"},
                                                                  {"content", "{\"customer\":{\"card_number\":4111111111111111}}"}}}}})}};
        out.clear();
        QCOMPARE(second.maskBody("application/json", reply.dump(), out), std::size_t{1});
        QVERIFY2(out.find("4111") == std::string::npos, out.c_str());
    }

    void aNameGivenTwiceNeverPassesItsOtherValue() {
        // Readers keep the first or the last of two equal names: whichever the walk did not
        // read must not go out as it came.
        mask::BodyMasker masker(profileOf({}), kKey);
        std::string out;
        QCOMPARE(masker.maskBody("application/json", "{\"x\":\"card 4111 1111 1111 1111\",\"x\":\"\"}", out), std::size_t{0});
        QVERIFY2(out.find("4111") == std::string::npos, out.c_str());
        QVERIFY(json::parse(out).is_object());
        const json reply = {{"choices", json::array({{{"message", {{"content", "{\"x\": \"mail jane.doe@example.com\", \"x\": \"\"}"}}}}})}};
        out.clear();
        masker.maskBody("application/json", reply.dump(), out);
        QVERIFY2(out.find("jane") == std::string::npos, out.c_str());
    }

    void deepJsonIsMaskedAsTextNotRecursed() {
        // 20,000 levels in a reply's content crashed the gateway (the walk recursed).
        mask::BodyMasker masker(profileOf({}), kKey);
        const std::string deep = std::string(20000, '[') + "\"4111 1111 1111 1111\"" + std::string(20000, ']');
        const json reply = {{"choices", json::array({{{"message", {{"content", deep}}}}})}};
        std::string out;
        QCOMPARE(masker.maskBody("application/json", reply.dump(), out), std::size_t{1});
        QVERIFY(out.find("4111") == std::string::npos);
        out.clear();
        QCOMPARE(masker.maskBody("application/json", deep, out), std::size_t{1});  // a whole body as deep
        QVERIFY(out.find("4111") == std::string::npos);
        QVERIFY(!mask::parseForMasking(deep));
        QVERIFY(mask::parseForMasking(std::string(100, '[') + std::string(100, ']')));
    }

    void brokenUnicodeIsReadAsLenientReadersReadIt() {
        QCOMPARE(repairJsonText("{\"a\":\"\\ud83d\\ude00 ok\",\"b\":\"\\\\ud83d\"}"),
                 std::string("{\"a\":\"\\ud83d\\ude00 ok\",\"b\":\"\\\\ud83d\"}"));  // valid: unchanged
        QCOMPARE(repairJsonText("{\"a\":\"\\ud83d x \\udc00\"}"), std::string("{\"a\":\"\\uFFFD x \\uFFFD\"}"));
        QCOMPARE(repairJsonText(std::string("{\"a\":\"\xff x\"}")), std::string("{\"a\":\"\xEF\xBF\xBD x\"}"));

        // A lone surrogate or a stray byte made the whole body unparsable, and the raw text
        // scan missed values behind escapes ("\n4111..." has no word boundary before it).
        mask::BodyMasker masker(profileOf({}), kKey);
        std::string out;
        QCOMPARE(masker.maskBody("application/json",
                                 "{\"c\":\"\\ud83d card\\n4111111111111111 mail jane\\u0040example.com\"}", out),
                 std::size_t{2});
        QVERIFY2(out.find("4111") == std::string::npos && out.find("jane") == std::string::npos, out.c_str());
        out.clear();
        QCOMPARE(masker.maskBody("application/json", std::string("{\"c\":\"\xff card\\n4111111111111111\"}"), out), std::size_t{1});
        QVERIFY2(out.find("4111") == std::string::npos, out.c_str());

        // In a stream, such an event still takes part in the hold-back across events.
        mask::SseMasker sse(masker);
        out.clear();
        sse.event("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d card 4111 1111\"}}]}\n\n", out);
        sse.event("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" 1111 1111 thanks\"},\"finish_reason\":\"stop\"}]}\n\n", out);
        QVERIFY2(out.find("1111") == std::string::npos, out.c_str());
        QVERIFY2(out.find("[CREDIT_CARD]") != std::string::npos, out.c_str());
    }

    void sseResponsesLogprobsAreDropped() {
        mask::BodyMasker body(profileOf({}), kKey);
        mask::SseMasker sse(body);
        std::string out;
        for (const char* piece : {"Card 4111 ", "1111 1111 ", "1111 end"}) {
            const json e = {{"type", "response.output_text.delta"}, {"output_index", 0}, {"content_index", 0},
                            {"delta", piece}, {"logprobs", json::array({{{"token", piece}, {"logprob", -0.1}}})}};
            sse.event("event: response.output_text.delta\ndata: " + e.dump() + "\n\n", out);
        }
        sse.finish(out);
        QVERIFY2(out.find("1111") == std::string::npos, out.c_str());
        QVERIFY2(out.find("\"token\"") == std::string::npos, out.c_str());
    }

    void sseLegacyFunctionCallAndTranscriptAcrossEvents() {
        mask::BodyMasker body(profileOf({}), kKey);
        mask::SseMasker sse(body);
        std::string out;
        const char* pieces[] = {"{\"card\": \"41", "11 1111 ", "1111 11", "11\"}"};
        for (int i = 0; i < 4; ++i) {
            json choice = {{"index", 0}, {"delta", {{"function_call", {{"arguments", pieces[i]}}}, {"audio", {{"transcript", pieces[i]}}}}}};
            if (i == 3) choice["finish_reason"] = "stop";
            sse.event("data: " + json{{"choices", json::array({choice})}}.dump() + "\n\n", out);
        }
        std::string arguments;
        std::string transcript;
        std::size_t at = 0;
        while ((at = out.find("data: ", at)) != std::string::npos) {
            const auto end = out.find("\n\n", at);
            const auto delta = json::parse(out.substr(at + 6, end - at - 6))["choices"][0]["delta"];
            if (delta.contains("function_call")) arguments += delta["function_call"]["arguments"].get<std::string>();
            if (delta.contains("audio")) transcript += delta["audio"]["transcript"].get<std::string>();
            at = end;
        }
        QCOMPARE(arguments, std::string("{\"card\": \"[CREDIT_CARD]\"}"));
        QCOMPARE(transcript, arguments);
    }

    void sseByteOrderMarkAndEventsWithoutData() {
        mask::BodyMasker body(profileOf({}), kKey);
        mask::SseMasker sse(body);
        std::string out;
        // Readers skip a BOM before the first field; the masker must not take the line for
        // something other than data.
        sse.event("\xEF\xBB\xBF" "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"card 4111 1111 1111 1111 end\"},\"finish_reason\":\"stop\"}]}\n\n",
                  out);
        QVERIFY2(out.find("4111") == std::string::npos, out.c_str());
        QVERIFY2(out.starts_with("data: "), out.c_str());
        // A JSON body labelled as an event stream has no data line: still masked, as text.
        out.clear();
        sse.event("{\"card\":\"4111 1111 1111 1111\"}\n\n", out);
        QVERIFY2(out.find("4111") == std::string::npos, out.c_str());
    }

    void indentedPrivateKeysStreamed() {
        const std::string text =
            "config:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
            "    VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNb\n    -----END PRIVATE KEY-----\ndone\n";
        std::vector<std::string_view> pieces;
        for (std::size_t at = 0; at < text.size(); at += 4) pieces.push_back(std::string_view(text).substr(at, 4));
        const auto out = streamed(standard(), pieces);
        QVERIFY2(out.find("MIIEvQ") == std::string::npos && out.find("VJTUt9") == std::string::npos, out.c_str());
        QVERIFY2(out.find("END PRIVATE") == std::string::npos, out.c_str());
        QCOMPARE(masked(standard(), text), out);
    }

    void manyBeginLinesCostLinearTime() {
        // Each BEGIN line searched for an END to the end of the text: 500 KB took 6 s.
        std::string text;
        while (text.size() < 1024 * 1024) text += "-----BEGIN X PRIVATE KEY-----\n";
        QElapsedTimer timer;
        timer.start();
        const auto out = masked(standard(), text);
        QVERIFY(!out.empty());
        QVERIFY2(timer.elapsed() < 10000, qPrintable(QString::number(timer.elapsed())));  // a bound, not a benchmark
    }

    void prefixedCredentialsAndCodeThatLooksLikeIpv6() {
        for (const char* text : {"DB_PASSWORD=Sup3rS3cretPw!", "OPENAI_API_KEY=sk-proj-abcdef123456",
                                 "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                 "GITHUB_TOKEN=ghp_abcdefghijklmnop1234"}) {
            const auto f = found(standard(), text);
            QVERIFY2(f.size() == 1 && f[0].startsWith(QStringLiteral("CREDENTIAL:")), text);
        }
        for (const char* code : {"xs[::-1]", "xs[1::2]", "f :: Int -> Int", "rows[2::3]"}) {
            QVERIFY2(found(standard(), code).isEmpty(), qPrintable(found(standard(), code).join(QStringLiteral(", "))));
        }
        QCOMPARE(found(standard(), "connect to http://[2001:db8::1]:8080/ now"), QStringList{QStringLiteral("IP_ADDRESS:2001:db8::1")});
        QCOMPARE(found(standard(), "loopback ::1 only"), QStringList{QStringLiteral("IP_ADDRESS:::1")});
    }

    void eventStreamsAndJsonUnderOtherTypes() {
        QVERIFY(mask::looksLikeEventStream("\xEF\xBB\xBF" "data: {}"));
        QVERIFY(mask::looksLikeEventStream(": keep-alive\n\ndata: {}"));
        QVERIFY(!mask::looksLikeEventStream("{\"data\": 1}"));
        mask::BodyMasker masker(profileOf({}), kKey);
        for (const char* type : {"application/json-x", "application/ndjson", "text/json; charset=utf-8"}) {
            std::string out;
            QCOMPARE(masker.maskBody(type, "{\"c\":\"card 4111 1111 1111 1111\"}", out), std::size_t{1});
            QVERIFY2(out.find("4111") == std::string::npos, type);
        }
    }

    void requestLogprobsFlagIsKept() {
        mask::BodyMasker masker(profileOf({}), kKey);
        masker.keepLogprobs();
        std::string out;
        QCOMPARE(masker.maskBody("application/json",
                                 "{\"logprobs\":true,\"top_logprobs\":3,\"messages\":[{\"content\":\"ssn 123-45-6789\"}]}", out),
                 std::size_t{1});
        const auto j = json::parse(out);
        JSON_EQ(j["logprobs"], json(true));
        JSON_EQ(j["messages"][0]["content"], json("ssn [US_SSN]"));
    }
};

QTEST_APPLESS_MAIN(TestMasker)
#include "tst_masker.moc"
