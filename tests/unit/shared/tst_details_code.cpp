#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include "vigil/details_code.h"
#include "vigil/json_text.h"

class TestDetailsCode : public QObject {
    Q_OBJECT
private slots:
    void errorBodyHasTheOpenAiShape() {
        const auto body = vigil::errorBody(vigil::DetailsCode::BodyTooLarge, "too \"big\"\n");
        const auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(body));
        QVERIFY(doc.isObject());
        const auto error = doc.object().value(QStringLiteral("error")).toObject();
        QCOMPARE(error.value(QStringLiteral("message")).toString(), QStringLiteral("too \"big\"\n"));
        QCOMPARE(error.value(QStringLiteral("type")).toString(), QStringLiteral("invalid_request_error"));
        QCOMPARE(error.value(QStringLiteral("code")).toString(), QStringLiteral("body_too_large"));
        QVERIFY(error.contains(QStringLiteral("param")));
    }

    void statusesMatchTheIssue_data() {
        QTest::addColumn<int>("code");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("name");
        using vigil::DetailsCode;
        QTest::newRow("unreachable") << int(DetailsCode::UpstreamUnreachable) << 502 << "upstream_unreachable";
        QTest::newRow("timeout") << int(DetailsCode::UpstreamTimeout) << 504 << "upstream_timeout";
        QTest::newRow("body") << int(DetailsCode::BodyTooLarge) << 413 << "body_too_large";
        QTest::newRow("headers") << int(DetailsCode::HeadersTooLarge) << 431 << "headers_too_large";
        QTest::newRow("malformed") << int(DetailsCode::MalformedRequest) << 400 << "malformed_request";
        QTest::newRow("unknown") << int(DetailsCode::UnknownConnection) << 404 << "unknown_connection";
    }
    void statusesMatchTheIssue() {
        QFETCH(int, code);
        QFETCH(int, status);
        QFETCH(QString, name);
        const auto& info = vigil::detailsCodeInfo(static_cast<vigil::DetailsCode>(code));
        QCOMPARE(info.httpStatus, status);
        QCOMPARE(QString::fromUtf8(info.name.data(), qsizetype(info.name.size())), name);
        QCOMPARE(vigil::detailsCodeFromName(info.name), std::optional(static_cast<vigil::DetailsCode>(code)));
    }

    void unknownNameIsNotACode() { QVERIFY(!vigil::detailsCodeFromName("no_such_code")); }

    void errorEventIsOneSseEvent() {
        const auto event = vigil::errorEvent(vigil::DetailsCode::UpstreamReset, "cut");
        QVERIFY(event.starts_with("event: error\ndata: {"));
        QVERIFY(event.ends_with("}\n\n"));
        QCOMPARE(std::count(event.begin(), event.end(), '\n'), 3);
    }

    void jsonStringsStayValidForAnyBytes() {
        std::string out;
        vigil::appendJsonString(out, std::string_view("a\x01\xff\xc3\xa9z", 6));
        const auto doc = QJsonDocument::fromJson("[" + QByteArray::fromStdString(out) + "]");
        QVERIFY(doc.isArray());
        QCOMPARE(doc.array().at(0).toString(), QString::fromUtf8("a\x01\xef\xbf\xbd\xc3\xa9z"));
    }
};

QTEST_APPLESS_MAIN(TestDetailsCode)
#include "tst_details_code.moc"
