#include <QTest>

#include "inspect/request_facts.h"

using vigil::DetailsCode;
using vigil::inspect::RequestFacts;
using vigil::inspect::inspectRequest;

namespace {

const std::vector<vigil::config::ModelPrice> kPrices = {{"gpt-test", 2.0, 8.0}};

std::optional<vigil::inspect::InspectError> inspect(const char* path, const char* body, RequestFacts& facts) {
    return inspectRequest("POST", path, body, kPrices, facts);
}

}  // namespace

class TestRequestFacts : public QObject {
    Q_OBJECT
private slots:
    void chatCompletion() {
        RequestFacts f;
        const auto error = inspect("/v1/chat/completions",
                                   "{\"model\":\"gpt-test\",\"stream\":true,\"max_tokens\":50,\"max_completion_tokens\":100,"
                                   "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},"
                                   "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":\"world\"}]},"
                                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}],"
                                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"search_db\"}}],"
                                   "\"functions\":[{\"name\":\"legacy_fn\"}]}",
                                   f);
        QVERIFY(!error);
        QCOMPARE(int(f.api), int(RequestFacts::Api::ChatCompletions));
        QCOMPARE(f.model, std::string("gpt-test"));
        QVERIFY(f.stream);
        QCOMPARE(f.maxTokens, std::optional<std::int64_t>(100));  // max_completion_tokens wins
        QCOMPARE(f.messages.size(), std::size_t(3));
        QCOMPARE(f.messages[0].role, std::string("system"));
        QCOMPARE(f.messages[1].text, std::string("Hello\nworld"));
        QCOMPARE(f.messages[2].text, std::string());
        QCOMPARE(f.tools, (std::vector<std::string>{"search_db", "legacy_fn"}));
        // 3 messages x 4 framing + "Be brief." (3) + "Hello\nworld" (3) + 3 priming.
        QCOMPARE(f.estimatedPromptTokens, std::int64_t(12 + 3 + 3 + 3));
        QCOMPARE(f.estimatedCost, 21 * 2.0 / 1e6 + 100 * 8.0 / 1e6);
    }

    void completionsEmbeddingsAndResponses() {
        RequestFacts c;
        QVERIFY(!inspect("/v1/completions", "{\"model\":\"m\",\"prompt\":[\"one\",\"two\"],\"max_tokens\":7}", c));
        QCOMPARE(c.messages.size(), std::size_t(2));
        QCOMPARE(c.messages[1].role, std::string("prompt"));
        QCOMPARE(c.maxTokens, std::optional<std::int64_t>(7));
        QCOMPARE(c.estimatedCost, 0.0);  // no price for "m"

        RequestFacts e;
        QVERIFY(!inspect("/v1/embeddings", "{\"model\":\"m\",\"input\":[1,2,3,4]}", e));
        QCOMPARE(e.estimatedPromptTokens, std::int64_t(4));  // token ids are counted as given

        RequestFacts r;
        QVERIFY(!inspect("/v1/responses",
                         "{\"model\":\"m\",\"instructions\":\"Reply in French.\",\"max_output_tokens\":30,"
                         "\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Bonjour\"}]}],"
                         "\"tools\":[{\"type\":\"web_search\"},{\"type\":\"function\",\"name\":\"lookup\"}]}",
                         r));
        QCOMPARE(r.messages.size(), std::size_t(2));
        QCOMPARE(r.messages[0].role, std::string("system"));
        QCOMPARE(r.messages[1].text, std::string("Bonjour"));
        QCOMPARE(r.tools, (std::vector<std::string>{"web_search", "lookup"}));
        QCOMPARE(r.maxTokens, std::optional<std::int64_t>(30));
    }

    void otherPathsAreNotRead() {
        RequestFacts f;
        QVERIFY(!inspectRequest("GET", "/v1/models", "", kPrices, f));
        QVERIFY(!inspectRequest("POST", "/v1/files", "not json at all", kPrices, f));
        QCOMPARE(int(f.api), int(RequestFacts::Api::Other));
    }

    void badBodiesNameTheField_data() {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("body");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        const int json = int(DetailsCode::InvalidJson);
        const int shape = int(DetailsCode::InvalidRequest);
        const QString chat = QStringLiteral("/v1/chat/completions");
        QTest::newRow("not json") << chat << "{\"model\": " << json << "not valid JSON";
        QTest::newRow("array body") << chat << "[1,2]" << shape << "must be a JSON object";
        QTest::newRow("no model") << chat << "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" << shape << "model: is required";
        QTest::newRow("model type") << chat << "{\"model\":5,\"messages\":[]}" << shape << "model: must be a string";
        QTest::newRow("no messages") << chat << "{\"model\":\"m\"}" << shape << "messages: is required";
        QTest::newRow("empty messages") << chat << "{\"model\":\"m\",\"messages\":[]}" << shape << "messages: must be a non-empty array";
        QTest::newRow("content type") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":7}]}"
                                      << shape << "messages[1].content: must be a string or an array of content parts";
        QTest::newRow("no role") << chat << "{\"model\":\"m\",\"messages\":[{\"content\":\"a\"}]}" << shape << "messages[0].role: is required";
        QTest::newRow("part text") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}"
                                   << shape << "messages[0].content[0].text: must be a string";
        QTest::newRow("tool name") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"function\":{}}]}"
                                   << shape << "tools[0].function.name: is required";
        QTest::newRow("max tokens") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":-1}"
                                    << shape << "max_tokens: must be a non-negative integer";
        QTest::newRow("stream") << chat << "{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"
                                << shape << "stream: must be true or false";
        QTest::newRow("embeddings input") << "/v1/embeddings" << "{\"model\":\"m\",\"input\":{}}" << shape << "input: must be a string or an array";
        QTest::newRow("responses input") << "/v1/responses" << "{\"model\":\"m\"}" << shape << "input: is required";
        // A name twice in one object: a parser keeping the first value would read another prompt.
        QTest::newRow("content twice") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"evil\",\"content\":\"benign\"}]}"
                                       << json << "\"content\" twice in one object";
        QTest::newRow("model twice") << chat << "{\"model\":\"cheap\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"model\":\"m\"}"
                                     << json << "\"model\" twice";
        QTest::newRow("escaped the second time") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\",\"c\\u006fntent\":\"b\"}]}"
                                                 << json << "\"content\" twice";
        QTest::newRow("deep in a tool") << chat << "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"function\":{\"name\":\"f\",\"name\":\"g\"}}]}"
                                        << json << "\"name\" twice";
    }
    void badBodiesNameTheField() {
        QFETCH(QString, path);
        QFETCH(QString, body);
        QFETCH(int, code);
        QFETCH(QString, message);
        RequestFacts f;
        const auto error = inspectRequest("POST", path.toStdString(), body.toStdString(), kPrices, f);
        QVERIFY(error);
        QCOMPARE(int(error->code), code);
        QVERIFY2(QString::fromStdString(error->message).contains(message), error->message.c_str());
    }

    // The same name in different objects is no duplicate.
    void sameNamesInDifferentObjectsAreFine() {
        RequestFacts f;
        const auto error = inspectRequest(
            "POST", "/v1/chat/completions",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"metadata\":{\"model\":\"x\"}}",
            kPrices, f);
        QVERIFY2(!error, error ? error->message.c_str() : "");
        QCOMPARE(f.messages.size(), std::size_t(2));
    }

    void tokenEstimates_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<int>("tokens");
        QTest::newRow("empty") << "" << 0;
        QTest::newRow("two words") << "Hello world" << 2;
        QTest::newRow("punctuation") << "Hi, you!" << 4;
        QTest::newRow("number") << "1234567" << 3;
        QTest::newRow("long word") << "internationalization" << 3;
        QTest::newRow("cjk") << QString::fromUtf8("\xe8\xaf\xb7\xe6\x80\xbb\xe7\xbb\x93") << 3;
        QTest::newRow("operators") << "a->b({});" << 6;  // a, ->, b, ({}) ;
        QTest::newRow("lines") << "a\n\nb" << 3;
    }
    void tokenEstimates() {
        QFETCH(QString, text);
        QFETCH(int, tokens);
        QCOMPARE(vigil::inspect::estimateTokens(text.toStdString()), std::int64_t(tokens));
    }
};

QTEST_APPLESS_MAIN(TestRequestFacts)
#include "tst_request_facts.moc"
