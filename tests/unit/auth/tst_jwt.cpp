#include <QTest>

#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "auth/jwt.h"
#include "auth/oidc_issuer.h"
#include "jwt_forge.h"

using nlohmann::json;
using vigil::auth::base64UrlDecode;
using vigil::auth::base64UrlEncode;
using vigil::auth::DecodedJwt;
using vigil::auth::decodeJwt;
using vigil::auth::Jwk;
using vigil::auth::JwtAlg;
using vigil::auth::JwtError;
using vigil::auth::parseJwks;
using vigil::auth::verifyJwtSignature;
using vigil::test::base64UrlEncodeForTest;
using vigil::test::EvpPkeyPtr;
using vigil::test::forgeJwt;
using vigil::test::TestKeyType;

namespace vigil::auth {
// Found by QCOMPARE through argument-dependent lookup, so failures name the error.
char* toString(const JwtError& error) {
    return qstrdup(std::string(jwtErrorName(error)).c_str());
}
}  // namespace vigil::auth

namespace {

const std::array<const char*, 9> kAllAlgs = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                             "PS512", "ES256", "ES384", "EdDSA"};

TestKeyType keyTypeFor(const std::string& alg) {
    if (alg == "ES256") return TestKeyType::EcP256;
    if (alg == "ES384") return TestKeyType::EcP384;
    if (alg == "EdDSA") return TestKeyType::Ed25519;
    return TestKeyType::Rsa2048;
}

json claims() {
    return {{"sub", "alice"}, {"iss", "https://idp.example"}, {"exp", 4102444800}};
}

json headerWithKid(const std::string& kid) {
    return {{"typ", "JWT"}, {"kid", kid}};
}

std::vector<std::string> splitToken(const std::string& token) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t dot = token.find('.'); dot != std::string::npos;
         dot = token.find('.', start)) {
        parts.push_back(token.substr(start, dot - start));
        start = dot + 1;
    }
    parts.push_back(token.substr(start));
    return parts;
}

std::string joinToken(const std::vector<std::string>& parts) {
    std::string token;
    for (const auto& part : parts) {
        if (!token.empty() || &part != &parts.front()) token += '.';
        token += part;
    }
    return token;
}

std::string b64(const std::string& text) {
    return base64UrlEncodeForTest(text);
}

// Decodes and verifies in one go, as the authentication stage will.
JwtError check(const std::string& token, const Jwk& key) {
    DecodedJwt decoded;
    const JwtError error = decodeJwt(token, decoded);
    if (error != JwtError::None) return error;
    return verifyJwtSignature(decoded, key);
}

bool containsReason(const std::vector<std::string>& reasons, const std::string& needle) {
    for (const auto& reason : reasons) {
        if (reason.find(needle) != std::string::npos) return true;
    }
    return false;
}

}  // namespace

class TestJwt : public QObject {
    Q_OBJECT

    std::map<TestKeyType, EvpPkeyPtr> keys_;
    std::map<TestKeyType, EvpPkeyPtr> otherKeys_;

    EVP_PKEY* key(TestKeyType type) { return keys_.at(type).get(); }

    // The key as the gateway would load it: exported as a JWK, put in a JWKS, parsed back.
    Jwk loadedKey(EVP_PKEY* pkey, const std::string& kid = "k1", const std::string& alg = {}) {
        const json jwks = {{"keys", json::array({vigil::test::publicJwk(pkey, kid, alg)})}};
        std::vector<std::string> skipped;
        auto parsed = parseJwks(jwks.dump(), skipped);
        if (parsed.size() != 1 || !skipped.empty()) {
            qWarning("JWK did not load: %s", skipped.empty() ? "?" : skipped.front().c_str());
            return {};
        }
        return parsed.front();
    }

    static void addAlgRows() {
        QTest::addColumn<QString>("alg");
        for (const char* alg : kAllAlgs) QTest::newRow(alg) << QString::fromLatin1(alg);
    }

private slots:
    void initTestCase() {
        for (const auto type : {TestKeyType::Rsa2048, TestKeyType::EcP256, TestKeyType::EcP384,
                                TestKeyType::Ed25519}) {
            keys_[type] = vigil::test::generateKey(type);
            otherKeys_[type] = vigil::test::generateKey(type);
            QVERIFY(keys_[type] && otherKeys_[type]);
        }
    }

    // base64url

    void base64UrlRoundTrips() {
        std::string bytes;
        for (int length = 0; length < 70; ++length) {
            QCOMPARE(base64UrlEncode(bytes), b64(bytes));
            const auto decoded = base64UrlDecode(base64UrlEncode(bytes));
            QVERIFY(decoded);
            QCOMPARE(*decoded, bytes);
            bytes.push_back(static_cast<char>((length * 97 + 13) & 0xff));
        }
    }

    void base64UrlAcceptsCorrectPadding() {
        QCOMPARE(base64UrlDecode("QQ==").value_or("?"), std::string("A"));
        QCOMPARE(base64UrlDecode("QUI=").value_or("?"), std::string("AB"));
        QCOMPARE(base64UrlDecode("QQ").value_or("?"), std::string("A"));
        QCOMPARE(base64UrlDecode("").value_or("?"), std::string());
        QCOMPARE(base64UrlDecode("-_8").value_or("?"), std::string("\xfb\xff"));
    }

    void base64UrlRejects_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("standard alphabet +") << QStringLiteral("ab+c");
        QTest::newRow("standard alphabet /") << QStringLiteral("ab/c");
        QTest::newRow("whitespace") << QStringLiteral("ab c");
        QTest::newRow("one char left over") << QStringLiteral("abcde");
        QTest::newRow("padding on unpadded length") << QStringLiteral("QQ=");
        QTest::newRow("too much padding") << QStringLiteral("QUI==");
        QTest::newRow("padding only") << QStringLiteral("====");
        QTest::newRow("padding in the middle") << QStringLiteral("QQ==QUJD");
        QTest::newRow("non-zero trailing bits") << QStringLiteral("QR");
        QTest::newRow("non-ascii") << QStringLiteral("QU\u00e9");
    }

    void base64UrlRejects() {
        QFETCH(QString, text);
        QVERIFY(!base64UrlDecode(text.toStdString()));
    }

    // Signatures that verify

    void roundTripEveryAlgorithm_data() { addAlgRows(); }

    void roundTripEveryAlgorithm() {
        QFETCH(QString, alg);
        const std::string name = alg.toStdString();
        EVP_PKEY* pkey = key(keyTypeFor(name));
        const std::string token = forgeJwt(headerWithKid("k1"), claims(), pkey, name);
        QVERIFY(!token.empty());

        const Jwk jwk = loadedKey(pkey);
        QVERIFY(jwk.key);
        QCOMPARE(jwk.kid, std::string("k1"));
        DecodedJwt decoded;
        QCOMPARE(decodeJwt(token, decoded), JwtError::None);
        QCOMPARE(std::string(vigil::auth::jwtAlgName(decoded.alg)), name);
        QCOMPARE(decoded.kid, std::string("k1"));
        QVERIFY(decoded.payload == claims());
        QCOMPARE(decoded.signingInput, token.substr(0, token.rfind('.')));
        QCOMPARE(verifyJwtSignature(decoded, jwk), JwtError::None);

        // A key pinned to the token's own alg verifies it just the same.
        QCOMPARE(verifyJwtSignature(decoded, loadedKey(pkey, "k1", name)), JwtError::None);
    }

    void verifiesTokenNearTheSizeLimit() {
        json payload = claims();
        payload["pad"] = std::string(10000, 'x');
        const std::string token =
            forgeJwt(headerWithKid("k1"), payload, key(TestKeyType::EcP256), "ES256");
        QVERIFY(token.size() > 13000 && token.size() <= vigil::auth::kMaxJwtSize);
        QCOMPARE(check(token, loadedKey(key(TestKeyType::EcP256))), JwtError::None);
    }

    // Signatures that do not

    void tamperedPayloadFails_data() { addAlgRows(); }

    void tamperedPayloadFails() {
        QFETCH(QString, alg);
        const std::string name = alg.toStdString();
        EVP_PKEY* pkey = key(keyTypeFor(name));
        auto parts = splitToken(forgeJwt(headerWithKid("k1"), claims(), pkey, name));
        json payload = claims();
        payload["sub"] = "admin";
        parts[1] = b64(payload.dump());
        QCOMPARE(check(joinToken(parts), loadedKey(pkey)), JwtError::BadSignature);
    }

    void tamperedSignatureFails_data() { addAlgRows(); }

    void tamperedSignatureFails() {
        QFETCH(QString, alg);
        const std::string name = alg.toStdString();
        EVP_PKEY* pkey = key(keyTypeFor(name));
        auto parts = splitToken(forgeJwt(headerWithKid("k1"), claims(), pkey, name));
        std::string signature = base64UrlDecode(parts[2]).value();
        signature[signature.size() / 2] = static_cast<char>(signature[signature.size() / 2] ^ 0x01);
        parts[2] = b64(signature);
        QCOMPARE(check(joinToken(parts), loadedKey(pkey)), JwtError::BadSignature);
    }

    void otherKeyOfSameTypeFails_data() { addAlgRows(); }

    void otherKeyOfSameTypeFails() {
        QFETCH(QString, alg);
        const std::string name = alg.toStdString();
        const TestKeyType type = keyTypeFor(name);
        const std::string token =
            forgeJwt(headerWithKid("k1"), claims(), otherKeys_.at(type).get(), name);
        QCOMPARE(check(token, loadedKey(key(type))), JwtError::BadSignature);
    }

    void ecdsaSignatureMustBeRawAndFullSize() {
        EVP_PKEY* p256 = key(TestKeyType::EcP256);
        const Jwk jwk = loadedKey(p256);
        // DER, as OpenSSL produces it, is not the JOSE form.
        QCOMPARE(
            check(vigil::test::forgeDerEcdsaJwt(headerWithKid("k1"), claims(), p256, "ES256"), jwk),
            JwtError::BadSignature);

        auto parts = splitToken(forgeJwt(headerWithKid("k1"), claims(), p256, "ES256"));
        const std::string signature = base64UrlDecode(parts[2]).value();
        QCOMPARE(signature.size(), std::size_t(64));
        parts[2] = b64(signature + '\0');
        QCOMPARE(check(joinToken(parts), jwk), JwtError::BadSignature);
        parts[2] = b64(signature.substr(0, 63));
        QCOMPARE(check(joinToken(parts), jwk), JwtError::BadSignature);
        parts[2] = b64(std::string(64, '\0'));  // r = s = 0
        QCOMPARE(check(joinToken(parts), jwk), JwtError::BadSignature);
    }

    void paddingSchemesDoNotMix() {
        // Same RSA key, header naming one padding scheme, signature made with the other.
        EVP_PKEY* rsa = key(TestKeyType::Rsa2048);
        const Jwk jwk = loadedKey(rsa);
        QCOMPARE(check(forgeJwt(json{{"alg", "RS256"}}, claims(), rsa, "PS256"), jwk),
                 JwtError::BadSignature);
        QCOMPARE(check(forgeJwt(json{{"alg", "PS256"}}, claims(), rsa, "RS256"), jwk),
                 JwtError::BadSignature);
        QCOMPARE(check(forgeJwt(json{{"alg", "RS256"}}, claims(), rsa, "RS512"), jwk),
                 JwtError::BadSignature);
    }

    // Algorithm and key must fit

    void algorithmMustFitTheKey_data() {
        QTest::addColumn<QString>("alg");
        QTest::addColumn<int>("signingKey");
        QTest::addColumn<int>("verifyingKey");
        QTest::newRow("ES256 against P-384")
            << QStringLiteral("ES256") << int(TestKeyType::EcP256) << int(TestKeyType::EcP384);
        QTest::newRow("ES384 against P-256")
            << QStringLiteral("ES384") << int(TestKeyType::EcP384) << int(TestKeyType::EcP256);
        QTest::newRow("RS256 against EC")
            << QStringLiteral("RS256") << int(TestKeyType::Rsa2048) << int(TestKeyType::EcP256);
        QTest::newRow("PS256 against Ed25519")
            << QStringLiteral("PS256") << int(TestKeyType::Rsa2048) << int(TestKeyType::Ed25519);
        QTest::newRow("EdDSA against RSA")
            << QStringLiteral("EdDSA") << int(TestKeyType::Ed25519) << int(TestKeyType::Rsa2048);
        QTest::newRow("ES256 against RSA")
            << QStringLiteral("ES256") << int(TestKeyType::EcP256) << int(TestKeyType::Rsa2048);
    }

    void algorithmMustFitTheKey() {
        QFETCH(QString, alg);
        QFETCH(int, signingKey);
        QFETCH(int, verifyingKey);
        const std::string token = forgeJwt(headerWithKid("k1"), claims(),
                                           key(TestKeyType(signingKey)), alg.toStdString());
        QVERIFY(!token.empty());
        QCOMPARE(check(token, loadedKey(key(TestKeyType(verifyingKey)))),
                 JwtError::AlgorithmNotAllowedForKey);
    }

    void jwkAlgPinsTheAlgorithm() {
        EVP_PKEY* rsa = key(TestKeyType::Rsa2048);
        const std::string ps256 = forgeJwt(headerWithKid("k1"), claims(), rsa, "PS256");
        QCOMPARE(check(ps256, loadedKey(rsa, "k1", "RS256")), JwtError::AlgorithmNotAllowedForKey);
        QCOMPARE(check(ps256, loadedKey(rsa, "k1", "PS256")), JwtError::None);
    }

    void rsaKeyUnder2048BitsIsRefused() {
        const EvpPkeyPtr weak = vigil::test::generateRsaKey(1024);
        QVERIFY(weak);
        const std::string token = forgeJwt(headerWithKid("k1"), claims(), weak.get(), "RS256");
        const Jwk jwk = loadedKey(weak.get());
        QVERIFY(jwk.key);
        QCOMPARE(check(token, jwk), JwtError::AlgorithmNotAllowedForKey);
    }

    void keylessJwkVerifiesNothing() {
        const std::string token =
            forgeJwt(headerWithKid("k1"), claims(), key(TestKeyType::Ed25519), "EdDSA");
        Jwk jwk;
        jwk.kty = "OKP";
        jwk.crv = "Ed25519";
        QCOMPARE(check(token, jwk), JwtError::AlgorithmNotAllowedForKey);
    }

    // Algorithms we never accept

    void unsupportedAlgorithms_data() {
        QTest::addColumn<QString>("alg");
        QTest::newRow("none") << QStringLiteral("none");
        QTest::newRow("None") << QStringLiteral("None");
        QTest::newRow("NONE") << QStringLiteral("NONE");
        QTest::newRow("lower-case rs256") << QStringLiteral("rs256");
        QTest::newRow("RS1") << QStringLiteral("RS1");
        QTest::newRow("ES512") << QStringLiteral("ES512");
        QTest::newRow("empty") << QString();
    }

    void unsupportedAlgorithms() {
        QFETCH(QString, alg);
        const std::string token =
            vigil::test::forgeUnsignedJwt({{"alg", alg.toStdString()}}, claims());
        DecodedJwt decoded;
        QCOMPARE(decodeJwt(token, decoded), JwtError::UnsupportedAlgorithm);
        // A signature does not make it acceptable either.
        QCOMPARE(decodeJwt(token + "c2ln", decoded), JwtError::UnsupportedAlgorithm);
    }

    void hmacIsRefusedEvenWithThePublicKeyAsSecret_data() {
        QTest::addColumn<QString>("alg");
        QTest::addColumn<QString>("secretForm");
        for (const std::string alg : {"HS256", "HS384", "HS512"}) {
            for (const std::string form : {"pem", "der", "jwk", "plain"}) {
                const std::string row = alg + ' ' + form;
                QTest::newRow(row.c_str())
                    << QString::fromStdString(alg) << QString::fromStdString(form);
            }
        }
    }

    void hmacIsRefusedEvenWithThePublicKeyAsSecret() {
        // The classic confusion: an HMAC keyed with the verifier's public key, hoping the
        // verifier feeds that same key to HMAC.
        QFETCH(QString, alg);
        QFETCH(QString, secretForm);
        EVP_PKEY* rsa = key(TestKeyType::Rsa2048);
        std::string secret = "a shared secret of reasonable length";
        if (secretForm == QStringLiteral("pem")) secret = vigil::test::publicKeyPem(rsa);
        if (secretForm == QStringLiteral("der")) secret = vigil::test::publicKeyDer(rsa);
        if (secretForm == QStringLiteral("jwk")) secret = vigil::test::publicJwk(rsa, "k1").dump();
        QVERIFY(!secret.empty());
        const std::string token =
            vigil::test::forgeHmacJwt(headerWithKid("k1"), claims(), secret, alg.toStdString());
        QVERIFY(!token.empty());
        DecodedJwt decoded;
        QCOMPARE(decodeJwt(token, decoded), JwtError::UnsupportedAlgorithm);
    }

    // Malformed tokens

    void malformed_data() {
        QTest::addColumn<QString>("token");
        const std::string header = b64(json{{"alg", "ES256"}, {"kid", "k1"}}.dump());
        const std::string payload = b64(claims().dump());
        const std::string signature = b64(std::string(64, 'S'));
        const auto row = [](const char* name, const std::string& token) {
            QTest::newRow(name) << QString::fromStdString(token);
        };
        row("empty", "");
        row("one part", header);
        row("two parts", header + '.' + payload);
        row("four parts", header + '.' + payload + '.' + signature + '.' + signature);
        row("empty header", '.' + payload + '.' + signature);
        row("bad base64 header", "ey*J." + payload + '.' + signature);
        row("bad base64 payload", header + '.' + payload + "!." + signature);
        row("bad base64 signature", header + '.' + payload + ".ab+/");
        row("empty signature", header + '.' + payload + '.');
        row("header not JSON", b64("{alg: ES256}") + '.' + payload + '.' + signature);
        row("header a JSON array", b64("[\"ES256\"]") + '.' + payload + '.' + signature);
        row("header a JSON string", b64("\"ES256\"") + '.' + payload + '.' + signature);
        row("header with trailing data",
            b64(json{{"alg", "ES256"}}.dump() + "x") + '.' + payload + '.' + signature);
        row("payload not JSON", header + '.' + b64("sub=alice") + '.' + signature);
        row("payload a JSON array", header + '.' + b64("[1,2]") + '.' + signature);
        row("payload null", header + '.' + b64("null") + '.' + signature);
        row("missing alg", b64(json{{"kid", "k1"}}.dump()) + '.' + payload + '.' + signature);
        row("alg not a string", b64(json{{"alg", 256}}.dump()) + '.' + payload + '.' + signature);
        row("kid not a string",
            b64(json{{"alg", "ES256"}, {"kid", 7}}.dump()) + '.' + payload + '.' + signature);
        row("crit header", b64(json{{"alg", "ES256"}, {"crit", {"exp"}}, {"exp", 1}}.dump()) + '.' +
                               payload + '.' + signature);
        row("crit b64", b64(json{{"alg", "ES256"}, {"b64", false}, {"crit", {"b64"}}}.dump()) +
                            '.' + payload + '.' + signature);
        row("invalid UTF-8 in header",
            b64("{\"alg\":\"ES256\",\"x\":\"\xff\"}") + '.' + payload + '.' + signature);
        json big = claims();
        big["pad"] = std::string(vigil::auth::kMaxJwtSize, 'x');
        row("over 16 KiB", header + '.' + b64(big.dump()) + '.' + signature);
    }

    void malformed() {
        QFETCH(QString, token);
        DecodedJwt decoded;
        QCOMPARE(decodeJwt(token.toStdString(), decoded), JwtError::Malformed);
    }

    void crlfInTokenIsMalformed() {
        std::string token =
            forgeJwt(headerWithKid("k1"), claims(), key(TestKeyType::EcP256), "ES256");
        token.insert(token.find('.') + 1, "\r\n");
        DecodedJwt decoded;
        QCOMPARE(decodeJwt(token, decoded), JwtError::Malformed);
    }

    // JWKS parsing

    void parseJwksSkipsUnusableKeys() {
        json good = vigil::test::publicJwk(key(TestKeyType::EcP256), "good");
        json enc = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "enc-key");
        enc["use"] = "enc";
        const json unknownKty = {{"kty", "oct"}, {"kid", "sym"}, {"k", b64("secret")}};
        json truncated = vigil::test::publicJwk(key(TestKeyType::EcP256), "short-x");
        truncated["x"] = b64(base64UrlDecode(truncated["x"].get<std::string>()).value().substr(1));
        json offCurve = vigil::test::publicJwk(key(TestKeyType::EcP384), "off-curve");
        std::string y = base64UrlDecode(offCurve["y"].get<std::string>()).value();
        y.back() = static_cast<char>(y.back() ^ 0x01);
        offCurve["y"] = b64(y);
        json encryptOnly = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "ops");
        encryptOnly.erase("use");
        encryptOnly["key_ops"] = {"encrypt", "wrapKey"};
        json oaep = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "oaep", "RSA-OAEP");
        oaep.erase("use");
        json ed448 = vigil::test::publicJwk(key(TestKeyType::Ed25519), "ed448");
        ed448["crv"] = "Ed448";
        json badBase64 = vigil::test::publicJwk(key(TestKeyType::Ed25519), "bad-b64");
        badBase64["x"] = "not/base64url+";
        json evenExponent = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "even-e");
        evenExponent["e"] = b64(std::string("\x01\x00\x00", 3));
        const json noUse = [&] {
            json jwk = vigil::test::publicJwk(key(TestKeyType::Ed25519), "no-use");
            jwk.erase("use");
            return jwk;
        }();

        const json jwks = {{"keys",
                            {good, enc, unknownKty, truncated, offCurve, encryptOnly, oaep, ed448,
                             badBase64, evenExponent, noUse, 42}}};
        std::vector<std::string> skipped;
        const auto keys = parseJwks(jwks.dump(), skipped);
        QCOMPARE(keys.size(), std::size_t(2));
        QCOMPARE(keys[0].kid, std::string("good"));
        QCOMPARE(keys[0].kty, std::string("EC"));
        QCOMPARE(keys[0].crv, std::string("P-256"));
        QCOMPARE(keys[1].kid, std::string("no-use"));
        QCOMPARE(skipped.size(), std::size_t(10));
        QVERIFY(containsReason(skipped, "(kid \"enc-key\"): use \"enc\" is not \"sig\""));
        QVERIFY(containsReason(skipped, "(kid \"sym\"): unsupported kty \"oct\""));
        QVERIFY(
            containsReason(skipped, "(kid \"short-x\"): EC point coordinates are not 32 bytes"));
        QVERIFY(containsReason(skipped, "(kid \"off-curve\"): EC key material rejected"));
        QVERIFY(containsReason(skipped, "(kid \"ops\"): key_ops"));
        QVERIFY(containsReason(skipped, "(kid \"oaep\"): unsupported alg \"RSA-OAEP\""));
        QVERIFY(containsReason(skipped, "(kid \"ed448\"): unsupported OKP crv \"Ed448\""));
        QVERIFY(containsReason(skipped, "(kid \"bad-b64\"): x is not valid base64url"));
        QVERIFY(containsReason(skipped, "(kid \"even-e\"): RSA public key check failed"));
        QVERIFY(containsReason(skipped, "key 11: not a JSON object"));
    }

    void parseJwksBoundsWhatALoadCosts() {
        // An RSA modulus over 8192 bits is refused before any arithmetic (a 16384-bit one
        // cost about a second in the public-key check, on the thread every issuer shares).
        json huge = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "huge");
        huge["n"] = b64(std::string(8192 / 8 + 1, '\xC5'));
        json big = vigil::test::publicJwk(key(TestKeyType::Rsa2048), "big");
        big["n"] = b64(std::string(8192 / 8, '\xC5'));  // 8192 bits pass the size check (and fail later: not a key)
        std::vector<std::string> skipped;
        QVERIFY(parseJwks(json{{"keys", {huge}}}.dump(), skipped).empty());
        QVERIFY2(containsReason(skipped, "(kid \"huge\"): RSA modulus over 8192 bits"), skipped.front().c_str());
        skipped.clear();
        QVERIFY(parseJwks(json{{"keys", {big}}}.dump(), skipped).empty());
        QVERIFY2(!containsReason(skipped, "over 8192 bits"), skipped.front().c_str());

        // A set of more than kMaxJwksKeys keys is refused whole; one of that many loads.
        const json one = vigil::test::publicJwk(key(TestKeyType::EcP256), "k");
        json many = {{"keys", json::array()}};
        for (std::size_t i = 0; i < vigil::auth::kMaxJwksKeys; ++i) many["keys"].push_back(one);
        skipped.clear();
        QCOMPARE(parseJwks(many.dump(), skipped).size(), vigil::auth::kMaxJwksKeys);
        QVERIFY(skipped.empty());
        many["keys"].push_back(one);
        QVERIFY(parseJwks(many.dump(), skipped).empty());
        QCOMPARE(skipped.size(), std::size_t(1));
        QVERIFY2(containsReason(skipped, "JWKS has 65 keys, more than the 64 accepted"), skipped.front().c_str());
    }

    void httpsIssuersFetchTheirKeysOverHttps() {
        using vigil::auth::jwksUriProblem;
        QVERIFY(!jwksUriProblem("https://idp.example", "https://keys.example/jwks"));
        QVERIFY(!jwksUriProblem("http://127.0.0.1:9000", "http://127.0.0.1:9000/jwks"));
        QVERIFY(!jwksUriProblem("http://127.0.0.1:9000", "https://keys.example/jwks"));
        const auto downgrade = jwksUriProblem("https://idp.example", "http://idp.example/jwks");
        QVERIFY(downgrade);
        QVERIFY2(downgrade->find("is not https, as the issuer is") != std::string::npos, downgrade->c_str());
        QVERIFY(jwksUriProblem("https://idp.example", "HTTP://idp.example/jwks"));
        QVERIFY(jwksUriProblem("https://idp.example", "file:///etc/keys.json"));
        QVERIFY(jwksUriProblem("https://idp.example", "/jwks"));
    }

    void parseJwksRejectsDocumentsWithoutKeys_data() {
        QTest::addColumn<QString>("document");
        QTest::newRow("not JSON") << QStringLiteral("{\"keys\": [");
        QTest::newRow("empty") << QString();
        QTest::newRow("array") << QStringLiteral("[]");
        QTest::newRow("no keys") << QStringLiteral("{}");
        QTest::newRow("keys not an array") << QStringLiteral("{\"keys\": {}}");
    }

    void parseJwksRejectsDocumentsWithoutKeys() {
        QFETCH(QString, document);
        std::vector<std::string> skipped;
        QVERIFY(parseJwks(document.toStdString(), skipped).empty());
        QCOMPARE(skipped.size(), std::size_t(1));
    }
};

QTEST_APPLESS_MAIN(TestJwt)
#include "tst_jwt.moc"
