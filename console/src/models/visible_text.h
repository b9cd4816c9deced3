#pragma once

#include <QString>

namespace vigil::console {

// Characters that change what a reader sees without being seen: bidirectional controls (a
// requester can make "from A to B" read "from B to A", or reorder a table row), zero-width
// spaces and marks. Whoever decides or audits must read the characters sent.
bool isHiddenCharacter(char16_t c);

// `text` with each hidden character written as [U+XXXX], for table cells and labels in
// plain text (visibleHtml in reviews_page.h is the rich-text form).
QString visibleText(const QString& text);

}  // namespace vigil::console
