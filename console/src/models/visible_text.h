#pragma once

#include <QString>

namespace vigil::console {

// Characters that change what a reader sees without being seen: bidirectional controls (a
// requester can make "from A to B" read "from B to A", or reorder a table row), zero-width
// spaces, joiners and marks, the soft hyphen, line and paragraph separators, and the tag
// characters (U+E0000 to U+E007F, which can spell out hidden text). Whoever decides or
// audits must read the characters sent.
//
// The length in UTF-16 units of the hidden character at `i` (2 for a tag character), or 0.
qsizetype hiddenCharacterAt(const QString& text, qsizetype i);

// The code point at `i` as "U+XXXX" (or "U+XXXXX"), for a character hiddenCharacterAt found.
QString codePointName(const QString& text, qsizetype i);

// `text` with each hidden character written as [U+XXXX], for table cells and labels in
// plain text (visibleHtml in reviews_page.h is the rich-text form).
QString visibleText(const QString& text);

}  // namespace vigil::console
