#include <QTest>

#include "forward/credential_scrubber.h"

using vigil::forward::CredentialScrubber;

class TestCredentialScrubber : public QObject {
    Q_OBJECT
private slots:
    void replacesEveryOccurrence() {
        const CredentialScrubber scrubber("sk-secret-42");
        std::string text = "key sk-secret-42 and again sk-secret-42.";
        QCOMPARE(scrubber.scrub(text), std::size_t(2));
        QCOMPARE(text, std::string("key [REDACTED] and again [REDACTED]."));
    }

    void scrubFromLeavesTheEarlierPartAlone() {
        const CredentialScrubber scrubber("sk-secret-42");
        std::string text = "sk-secret-42|sk-secret-42";
        QCOMPARE(scrubber.scrubFrom(text, 5), std::size_t(1));
        QCOMPARE(text, std::string("sk-secret-42|[REDACTED]"));
    }

    void shortCredentialsAreNotScrubbed() {
        const CredentialScrubber scrubber("abc");
        QVERIFY(!scrubber.active());
        std::string text = "abcabc";
        QCOMPARE(scrubber.scrub(text), std::size_t(0));
        QCOMPARE(text, std::string("abcabc"));
    }
};

QTEST_APPLESS_MAIN(TestCredentialScrubber)
#include "tst_credential_scrubber.moc"
