#include "models/visible_text.h"

namespace vigil::console {

qsizetype hiddenCharacterAt(const QString& text, qsizetype i) {
    const char16_t c = text.at(i).unicode();
    if (c == 0x00AD || c == 0x034F || c == 0x061C || c == 0x180E || (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
        (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF) {
        return 1;
    }
    // Tag characters: U+E0000 to U+E007F, the surrogate pair DB40 DC00-DC7F.
    if (c == 0xDB40 && i + 1 < text.size()) {
        const char16_t low = text.at(i + 1).unicode();
        if (low >= 0xDC00 && low <= 0xDC7F) return 2;
    }
    return 0;
}

QString codePointName(const QString& text, qsizetype i) {
    const auto point = text.at(i).isHighSurrogate() && i + 1 < text.size()
                           ? QChar::surrogateToUcs4(text.at(i), text.at(i + 1))
                           : static_cast<char32_t>(text.at(i).unicode());
    return QStringLiteral("U+") + QString::number(static_cast<unsigned>(point), 16).rightJustified(4, QLatin1Char('0')).toUpper();
}

QString visibleText(const QString& text) {
    QString out;
    qsizetype at = 0;
    for (qsizetype i = 0; i < text.size();) {
        const auto n = hiddenCharacterAt(text, i);
        if (n == 0) {
            ++i;
            continue;
        }
        out += QStringView(text).mid(at, i - at);
        out += QLatin1Char('[') + codePointName(text, i) + QLatin1Char(']');
        i += n;
        at = i;
    }
    if (at == 0) return text;
    out += QStringView(text).mid(at);
    return out;
}

}  // namespace vigil::console
