#include "models/visible_text.h"

namespace vigil::console {

bool isHiddenCharacter(char16_t c) {
    return c == 0x061C || c == 0x200B || c == 0x200C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

QString visibleText(const QString& text) {
    qsizetype i = 0;
    while (i < text.size() && !isHiddenCharacter(text.at(i).unicode())) ++i;
    if (i == text.size()) return text;
    QString out = text.left(i);
    for (; i < text.size(); ++i) {
        const char16_t c = text.at(i).unicode();
        if (isHiddenCharacter(c)) {
            out += QStringLiteral("[U+%1]").arg(QString::number(static_cast<unsigned>(c), 16).rightJustified(4, QLatin1Char('0')).toUpper());
        } else {
            out += text.at(i);
        }
    }
    return out;
}

}  // namespace vigil::console
