// The mask stage in the real gateway, between the official openai SDK and the mock
// upstream: streamed replies whose values are cut over many SSE events arrive masked and
// well framed; buffered replies and structured output are masked by detectors and JSON
// paths; prompts are masked before the upstream sees them; the recording keeps the masked
// text and a summary and never the values; a compressed answer is refused, not passed on.

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QStringDecoder>
#include <QStringEncoder>
#include <QTest>

#include <algorithm>

#include "managed_process.h"
#include "raw_http.h"

using namespace vigil::test;

namespace {

const QString kUpstreamKey = QStringLiteral("sk-upstream-masking-test-5151");

// Every caller is allowed; replies get the "standard" profile (cards keep their last four),
// and the "prompter" key's prompts are masked too.
const char* const kPolicy =
    "{\n"
    "  \"default_action\": \"allow\",\n"
    "  \"default_masking\": \"standard\",\n"
    "  \"masking_profiles\": {\n"
    "    \"standard\": {\n"
    "      \"operators\": {\"CREDIT_CARD\": {\"keep_last\": 4}},\n"
    "      \"json_paths\": [{\"path\": \"$..account_number\", \"entity\": \"ACCOUNT_NUMBER\"}],\n"
    "      \"custom\": [{\"entity\": \"PROJECT_CODE\", \"regex\": \"PRJ-[0-9]{6}\"}]\n"
    "    },\n"
    "    \"prompts\": {\"requests\": true}\n"
    "  },\n"
    "  \"rules\": [\n"
    "    {\"id\": \"everyone\", \"action\": \"allow\"},\n"
    "    {\"id\": \"mask-prompts\", \"match\": {\"subjects\": [\"apikey:prompter\"]}, \"masking\": \"prompts\"}\n"
    "  ]\n"
    "}\n";

const QString kCard = QStringLiteral("4111 1111 1111 1111");
const QString kEmail = QStringLiteral("jane.doe@example.com");
const QString kReply = QStringLiteral("Your card 4111 1111 1111 1111 is on file; mail jane.doe@example.com about PRJ-123456.");
const QString kMaskedReply = QStringLiteral("Your card ****1111 is on file; mail [EMAIL] about [PROJECT_CODE].");

QByteArray bearer(const QString& key) { return "Bearer " + key.toLatin1(); }

// The text content of an SSE chat stream, checking that every event is well framed.
QString streamedContent(const QByteArray& body, int* events, bool* done) {
    QString text;
    *events = 0;
    *done = false;
    for (const auto& event : body.split('\n')) {
        if (event.isEmpty()) continue;
        if (!event.startsWith("data: ")) {
            qWarning("not a data line: %s", event.constData());
            return QStringLiteral("<bad framing>");
        }
        const auto data = event.mid(6);
        ++*events;
        if (data == "[DONE]") {
            *done = true;
            continue;
        }
        QJsonParseError error;
        const auto doc = QJsonDocument::fromJson(data, &error);
        if (error.error != QJsonParseError::NoError) {
            qWarning("event is not JSON: %s", data.constData());
            return QStringLiteral("<bad json>");
        }
        const auto choices = doc.object().value(QStringLiteral("choices")).toArray();
        if (choices.isEmpty()) continue;
        text += choices.at(0).toObject().value(QStringLiteral("delta")).toObject().value(QStringLiteral("content")).toString();
    }
    return text;
}

}  // namespace

class TestMasking : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<ManagedProcess> mock_;
    std::unique_ptr<ManagedProcess> gateway_;
    QString requesterKey_, prompterKey_, auditorKey_;

    QString dbPath() const { return dir_.filePath(QStringLiteral("vigil.db")); }

    HttpResponse chat(const QString& key, const QString& prompt, bool stream,
                      QList<QPair<QByteArray, QByteArray>> headers = {}) {
        headers.append({"Authorization", bearer(key)});
        return httpRequest(gateway_->url(), "POST", "/v1/chat/completions", chatBody(prompt, stream), headers);
    }

    QJsonArray eventsOf(const QByteArray& session) {
        const auto r = httpRequest(gateway_->url(), "GET", "/api/sessions/" + session, {},
                                   {{"Authorization", bearer(auditorKey_)}});
        return r.json().value(QStringLiteral("events")).toArray();
    }

    QJsonObject lastUpstreamRequest() { return httpRequest(mock_->url(), "GET", "/_mock/last-request").json(); }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        mock_ = startMockUpstream(kUpstreamKey);
        QVERIFY(mock_);
        requesterKey_ = createApiKey(dbPath(), QStringLiteral("alice"), QStringLiteral("requester"));
        prompterKey_ = createApiKey(dbPath(), QStringLiteral("prompter"), QStringLiteral("requester"));
        auditorKey_ = createApiKey(dbPath(), QStringLiteral("audrey"), QStringLiteral("auditor"));
        QVERIFY(!requesterKey_.isEmpty() && !prompterKey_.isEmpty() && !auditorKey_.isEmpty());
        QFile policy(dir_.filePath(QStringLiteral("policy.json")));
        QVERIFY(policy.open(QIODevice::WriteOnly));
        policy.write(kPolicy);
        policy.close();
        auto config = basicGatewayConfig(mock_->url());
        config.insert(QStringLiteral("policy"), QJsonObject{{QStringLiteral("file"), QStringLiteral("policy.json")}});
        gateway_ = startGateway(dir_, config, kUpstreamKey);
        QVERIFY(gateway_);
    }

    void cleanupTestCase() {
        if (gateway_) QCOMPARE(gateway_->terminate(), 0);
    }

    // The official SDK streams a reply whose card number, address and code are cut into
    // 3-byte pieces, one SSE event each, and reads them masked.
    void theSdkStreamsMaskedText_data() {
        QTest::addColumn<QString>("chunkBytes");
        for (const char* n : {"1", "2", "3", "5", "7"}) QTest::newRow(n) << QString::fromLatin1(n);
    }
    void theSdkStreamsMaskedText() {
        QFETCH(QString, chunkBytes);
        const auto result = runOpenAiSdk(gateway_->url() + QStringLiteral("/v1"), requesterKey_, QStringLiteral("stream"),
                                         {QStringLiteral("--header"), QStringLiteral("x-mock-reply=") + kReply,
                                          QStringLiteral("--header"), QStringLiteral("x-mock-chunk-bytes=") + chunkBytes});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QCOMPARE(result.value(QStringLiteral("text")).toString(), kMaskedReply);
        QCOMPARE(result.value(QStringLiteral("finish_reason")).toString(), QStringLiteral("stop"));
    }

    void theSdkReadsAMaskedReply() {
        const auto result = runOpenAiSdk(gateway_->url() + QStringLiteral("/v1"), requesterKey_, QStringLiteral("chat"),
                                         {QStringLiteral("--header"), QStringLiteral("x-mock-reply=") + kReply});
        QVERIFY2(result.value(QStringLiteral("ok")).toBool(), QJsonDocument(result).toJson().constData());
        QCOMPARE(result.value(QStringLiteral("text")).toString(), kMaskedReply);
    }

    // On the wire: every event is valid, nothing of a value leaks in any piece, [DONE] last.
    void theStreamStaysWellFramed() {
        const auto r = chat(requesterKey_, QStringLiteral("hi"), true,
                            {{"X-Mock-Reply", kReply.toUtf8()}, {"X-Mock-Chunk-Bytes", "2"}, {"X-Vigil-Session", "masked-stream"}});
        QCOMPARE(r.status, 200);
        int events = 0;
        bool done = false;
        QCOMPARE(streamedContent(r.body, &events, &done), kMaskedReply);
        QVERIFY(done);
        QVERIFY2(events > 30, QByteArray::number(events));  // still one event per piece, roughly
        QVERIFY(!r.body.contains("4111"));
        QVERIFY(!r.body.contains("jane.doe"));
        QVERIFY(r.body.trimmed().endsWith("data: [DONE]"));

        // The recording has what the client got, and a summary without the values.
        const auto recorded = eventsOf("masked-stream");
        QVERIFY(!recorded.isEmpty());
        QString recordedText;
        QJsonObject summary;
        for (const auto& e : recorded) {
            const auto o = e.toObject();
            const auto type = o.value(QStringLiteral("type")).toString();
            if (type == QStringLiteral("response.chunk")) {
                recordedText += o.value(QStringLiteral("payload")).toObject().value(QStringLiteral("data")).toString();
            }
            if (type == QStringLiteral("masking.applied")) summary = o.value(QStringLiteral("payload")).toObject();
        }
        QCOMPARE(recordedText.toUtf8(), r.body);
        QCOMPARE(summary.value(QStringLiteral("direction")).toString(), QStringLiteral("response"));
        QCOMPARE(summary.value(QStringLiteral("profile")).toString(), QStringLiteral("standard"));
        QCOMPARE(summary.value(QStringLiteral("total")).toInt(), 3);
        QStringList entities;
        for (const auto& e : summary.value(QStringLiteral("entities")).toArray()) {
            const auto o = e.toObject();
            entities << o.value(QStringLiteral("entity")).toString() + QLatin1Char('@') + o.value(QStringLiteral("where")).toString() +
                            QLatin1Char('=') + QString::number(o.value(QStringLiteral("count")).toInt());
        }
        entities.sort();
        QCOMPARE(entities, (QStringList{"CREDIT_CARD@choices[0].delta.content=1", "EMAIL@choices[0].delta.content=1",
                                        "PROJECT_CODE@choices[0].delta.content=1"}));
    }

    // Structured output: the reply's content is JSON; the profile's JSON path applies inside
    // it, the detectors to its strings, and it stays valid JSON.
    void structuredOutputIsMaskedByPath() {
        const QByteArray content = "{\"account_number\":\"12345678\",\"owner\":{\"email\":\"ann@example.org\"},\"note\":\"ok\"}";
        const auto r = chat(requesterKey_, QStringLiteral("give me json"), false, {{"X-Mock-Reply", content}});
        QCOMPARE(r.status, 200);
        const auto message = r.json().value(QStringLiteral("choices")).toArray().at(0).toObject().value(QStringLiteral("message")).toObject();
        QJsonParseError error;
        const auto inner = QJsonDocument::fromJson(message.value(QStringLiteral("content")).toString().toUtf8(), &error).object();
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(inner.value(QStringLiteral("account_number")).toString(), QStringLiteral("[ACCOUNT_NUMBER]"));
        QCOMPARE(inner.value(QStringLiteral("owner")).toObject().value(QStringLiteral("email")).toString(), QStringLiteral("[EMAIL]"));
        QCOMPARE(inner.value(QStringLiteral("note")).toString(), QStringLiteral("ok"));
        QVERIFY(!r.body.contains("12345678"));

        // Streamed in 3-byte pieces: the path applies too (the document is held until the
        // choice finishes), on the wire and as the official SDK reads it.
        const auto streamed = chat(requesterKey_, QStringLiteral("give me json"), true,
                                   {{"X-Mock-Reply", content}, {"X-Mock-Chunk-Bytes", "3"}});
        QCOMPARE(streamed.status, 200);
        QVERIFY(!streamed.body.contains("12345678"));
        QVERIFY(!streamed.body.contains("ann@"));
        bool done = false;
        int events = 0;
        const auto text = streamedContent(streamed.body, &events, &done);
        QVERIFY(done);
        const auto fromStream = QJsonDocument::fromJson(text.toUtf8(), &error).object();
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(fromStream, inner);
        const auto sdk = runOpenAiSdk(gateway_->url() + QStringLiteral("/v1"), requesterKey_, QStringLiteral("stream"),
                                      {QStringLiteral("--header"), QStringLiteral("x-mock-reply=") + QString::fromUtf8(content),
                                       QStringLiteral("--header"), QStringLiteral("x-mock-chunk-bytes=3")});
        QVERIFY2(sdk.value(QStringLiteral("ok")).toBool(), QJsonDocument(sdk).toJson().constData());
        QCOMPARE(QJsonDocument::fromJson(sdk.value(QStringLiteral("text")).toString().toUtf8()).object(), inner);
    }

    // A profile with "requests": the model never sees the prompt's values.
    void promptsAreMaskedBeforeTheUpstream() {
        const QString prompt = QStringLiteral("Charge card %1 and email %2").arg(kCard, kEmail);
        const auto r = chat(prompterKey_, prompt, false, {{"X-Mock-Echo", "1"}, {"X-Vigil-Session", "masked-prompt"}});
        QCOMPARE(r.status, 200);
        const auto upstream = lastUpstreamRequest();
        const auto body = upstream.value(QStringLiteral("body")).toString();
        QVERIFY2(!body.contains(kCard) && !body.contains(kEmail), body.toUtf8().constData());
        QVERIFY2(body.contains(QStringLiteral("Charge card [CREDIT_CARD] and email [EMAIL]")), body.toUtf8().constData());
        QCOMPARE(QJsonDocument::fromJson(body.toUtf8()).object().value(QStringLiteral("model")).toString(), QStringLiteral("mock-gpt"));
        // The echo shows the same masked prompt coming back.
        const auto reply = r.json().value(QStringLiteral("choices")).toArray().at(0).toObject().value(QStringLiteral("message")).toObject();
        QCOMPARE(reply.value(QStringLiteral("content")).toString(), QStringLiteral("Charge card [CREDIT_CARD] and email [EMAIL]"));
        // The recording keeps the body as forwarded, and what was masked in it.
        const auto recorded = eventsOf("masked-prompt");
        QVERIFY(!recorded.isEmpty());
        const auto received = recorded.at(0).toObject().value(QStringLiteral("payload")).toObject();
        QCOMPARE(received.value(QStringLiteral("body")).toString(), body);
        bool requestSummary = false;
        for (const auto& e : recorded) {
            const auto p = e.toObject().value(QStringLiteral("payload")).toObject();
            if (e.toObject().value(QStringLiteral("type")).toString() == QStringLiteral("masking.applied") &&
                p.value(QStringLiteral("direction")).toString() == QStringLiteral("request")) {
                requestSummary = p.value(QStringLiteral("total")).toInt() == 2 && p.value(QStringLiteral("profile")).toString() == QStringLiteral("prompts");
            }
        }
        QVERIFY(requestSummary);
        // Another caller's prompt goes through as sent (its profile masks replies only).
        QCOMPARE(chat(requesterKey_, QStringLiteral("Charge card ") + kCard, false).status, 200);
        QVERIFY(lastUpstreamRequest().value(QStringLiteral("body")).toString().contains(kCard));
    }

    // From an adversarial review: ways a prompt reached the model unmasked, or took the
    // gateway down.
    void promptsAreMaskedWhateverTheCallerCallsThem() {
        const QByteArray body = chatBody(QStringLiteral("Charge card ") + kCard, false);
        const auto r = httpRequest(gateway_->url(), "POST", "/v1/chat/completions", body,
                                   {{"Authorization", bearer(prompterKey_)}, {"Content-Type", "application/octet-stream"}});
        QCOMPARE(r.status, 200);
        const auto forwarded = lastUpstreamRequest().value(QStringLiteral("body")).toString();
        QVERIFY2(!forwarded.contains(kCard) && forwarded.contains(QStringLiteral("[CREDIT_CARD]")), forwarded.toUtf8().constData());
        // A prompt that is JSON naming a member twice: the value a reader would not keep
        // does not go on either.
        const QString doubled = QStringLiteral("{\"x\": \"card %1\", \"x\": \"\"}").arg(kCard);
        QCOMPARE(chat(prompterKey_, doubled, false).status, 200);
        QVERIFY(!lastUpstreamRequest().value(QStringLiteral("body")).toString().contains(kCard));
    }

    void aDeeplyNestedPromptDoesNotTakeTheGatewayDown() {
        // 30,000 levels of brackets in a prompt crashed the process (the masker recursed).
        const QString deep = QString(30000, QLatin1Char('[')) + QString(30000, QLatin1Char(']'));
        const auto r = chat(prompterKey_, deep, false);
        QCOMPARE(r.status, 200);
        QCOMPARE(chat(requesterKey_, QStringLiteral("still there?"), false).status, 200);
    }

    // Asked for an uncompressed answer; an upstream that compresses anyway is not passed on.
    void aCompressedAnswerIsRefused() {
        const auto r = chat(requesterKey_, QStringLiteral("hi"), false,
                            {{"Accept-Encoding", "gzip, br"}, {"X-Mock-Content-Encoding", "gzip"}, {"X-Mock-Reply", kReply.toUtf8()}});
        QCOMPARE(r.status, 502);
        QCOMPARE(r.errorCode(), QStringLiteral("response_not_maskable"));
        QVERIFY(r.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(QStringLiteral("gzip")));
        QVERIFY(!r.body.contains("4111"));
        const auto headers = lastUpstreamRequest().value(QStringLiteral("headers")).toObject();
        QCOMPARE(headers.value(QStringLiteral("accept-encoding")).toString(), QStringLiteral("identity"));
        // The same for a stream.
        const auto s = chat(requesterKey_, QStringLiteral("hi"), true,
                            {{"X-Mock-Content-Encoding", "br"}, {"X-Mock-Reply", kReply.toUtf8()}});
        QCOMPARE(s.status, 502);
        QVERIFY(!s.body.contains("4111"));
    }

    // A reply labelled "application/octet-stream" (a data API's download) or sent in UTF-16
    // (which Python's requests reads as JSON) is masked as its readers read it: before, both
    // passed as binary, the values in the clear.
    void aReplyInAnyLabelOrEncodingIsMasked() {
        const auto octet = chat(requesterKey_, QStringLiteral("hi"), false,
                                {{"X-Mock-Reply", kReply.toUtf8()}, {"X-Mock-Content-Type", "application/octet-stream"}});
        QCOMPARE(octet.status, 200);
        QCOMPARE(octet.header("content-type"), QByteArray("application/octet-stream"));
        QVERIFY2(!octet.body.contains("4111") && !octet.body.contains("jane.doe"), octet.body.constData());
        QCOMPARE(QJsonDocument::fromJson(octet.body)
                     .object()
                     .value(QStringLiteral("choices"))
                     .toArray()
                     .first()
                     .toObject()
                     .value(QStringLiteral("message"))
                     .toObject()
                     .value(QStringLiteral("content"))
                     .toString(),
                 kMaskedReply);

        const auto wide = chat(requesterKey_, QStringLiteral("hi"), false,
                               {{"X-Mock-Reply", kReply.toUtf8()},
                                {"X-Mock-Body-Encoding", "utf-16le"},
                                {"X-Mock-Content-Type", "application/json; charset=utf-16"}});
        QCOMPARE(wide.status, 200);
        QVERIFY(wide.body.startsWith("\xFF\xFE"));
        QStringDecoder decoder(QStringConverter::Utf16LE);
        const QString text = decoder(wide.body.mid(2));
        QVERIFY(!decoder.hasError());
        const auto reply = QJsonDocument::fromJson(text.toUtf8()).object();
        QCOMPARE(reply.value(QStringLiteral("choices")).toArray().first().toObject().value(QStringLiteral("message")).toObject().value(QStringLiteral("content")).toString(),
                 kMaskedReply);
        QStringEncoder encoder(QStringConverter::Utf16LE);
        QVERIFY(!wide.body.contains(QByteArray(encoder(QStringLiteral("4111")))));
        QVERIFY(!wide.body.contains(QByteArray(encoder(QStringLiteral("jane.doe")))));
        // The recording holds what the client received, and says what was masked.
        const auto events = eventsOf(wide.header("x-vigil-session"));
        bool summarised = false;
        for (const auto& e : events) {
            summarised = summarised || e.toObject().value(QStringLiteral("type")).toString() == QStringLiteral("masking.applied");
        }
        QVERIFY(summarised);
    }

    // A reply's fields can carry what its body can (a download's file name, a Location); they
    // are masked like text, and the summary names them. Protocol fields are left alone.
    void replyFieldsAreMasked() {
        const auto r = chat(requesterKey_, QStringLiteral("hi"), true,
                            {{"X-Mock-Reply", "fine"},
                             {"X-Mock-Header", "Content-Disposition: attachment; filename=\"card 4111 1111 1111 1111 of jane.doe@example.com.csv\""},
                             {"X-Vigil-Session", "masked-fields"}});
        QCOMPARE(r.status, 200);
        const auto disposition = r.header("content-disposition");
        QVERIFY2(!disposition.contains("jane.doe") && !disposition.contains("4111 1111"), disposition.constData());
        QVERIFY2(disposition.contains("[EMAIL]") && disposition.startsWith("attachment; filename="), disposition.constData());
        // RFC 8187's encoded form: the value is found decoded and replaced encoded.
        const auto encoded = chat(requesterKey_, QStringLiteral("hi"), false,
                                  {{"X-Mock-Reply", "fine"},
                                   {"X-Mock-Header", "Content-Disposition: attachment; filename*=UTF-8''statement%20jane.doe%40example.com%20Q3.pdf"}});
        QCOMPARE(encoded.header("content-disposition"), QByteArray("attachment; filename*=UTF-8''statement%20%5BEMAIL%5D%20Q3.pdf"));
        // Protocol fields and cookies are left as sent, whatever they hold; an upstream's
        // X-Vigil- fields do not pass for the gateway's.
        const auto cookie = chat(requesterKey_, QStringLiteral("hi"), false,
                                 {{"X-Mock-Reply", "fine"}, {"X-Mock-Header", "Set-Cookie: who=jane.doe@example.com; Path=/"}});
        QCOMPARE(cookie.header("set-cookie"), QByteArray("who=jane.doe@example.com; Path=/"));
        const auto limit = chat(requesterKey_, QStringLiteral("hi"), false,
                                {{"X-Mock-Reply", "fine"}, {"X-Mock-Header", "X-RateLimit-Reset-Tokens: 4111111111111111"}});
        QCOMPARE(limit.header("x-ratelimit-reset-tokens"), QByteArray("4111111111111111"));
        const auto spoof = chat(requesterKey_, QStringLiteral("hi"), false,
                                {{"X-Mock-Reply", "fine"}, {"X-Mock-Header", "X-Vigil-Policy-Version: sha256:forged"}});
        QCOMPARE(std::count_if(spoof.headers.begin(), spoof.headers.end(),
                               [](const auto& h) { return h.first.toLower() == QByteArray("x-vigil-policy-version"); }),
                 1);
        QVERIFY(spoof.header("x-vigil-policy-version") != QByteArray("sha256:forged"));
        bool summarised = false;
        for (const auto& e : eventsOf("masked-fields")) {
            const auto o = e.toObject();
            if (o.value(QStringLiteral("type")).toString() != QStringLiteral("masking.applied")) continue;
            for (const auto& entity : o.value(QStringLiteral("payload")).toObject().value(QStringLiteral("entities")).toArray()) {
                summarised = summarised || entity.toObject().value(QStringLiteral("where")).toString() == QStringLiteral("header.content-disposition");
            }
        }
        QVERIFY(summarised);
    }

    // Whatever was masked is nowhere in the database or the logs.
    void theValuesAreStoredNowhere() {
        QVERIFY(gateway_->terminate() == 0);
        QByteArray everything = gateway_->logText() + gateway_->stderrText();
        for (const auto& name : QDir(dir_.path()).entryList({QStringLiteral("vigil.db*")}, QDir::Files)) {
            QFile f(dir_.filePath(name));
            QVERIFY(f.open(QIODevice::ReadOnly));
            everything += f.readAll();
        }
        QVERIFY(everything.size() > 10000);
        QVERIFY(everything.contains("[EMAIL]"));  // the masked text is there...
        QVERIFY(!everything.contains("jane.doe@example.com"));  // ...the values are not
        QVERIFY(!everything.contains("PRJ-123456"));
        // Cards appear only in the one prompt sent unmasked on purpose (requester profile).
        QVERIFY(everything.contains("Charge card 4111 1111 1111 1111\\\"") || everything.contains("Charge card 4111 1111 1111 1111\""));
        QCOMPARE(everything.count(kCard.toUtf8()),
                 everything.count("Charge card 4111 1111 1111 1111\"") + everything.count("Charge card 4111 1111 1111 1111\\\""));
        gateway_.reset();
    }
};

QTEST_GUILESS_MAIN(TestMasking)
#include "tst_masking.moc"
