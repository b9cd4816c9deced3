#pragma once

#include <string>
#include <string_view>

namespace vigil {

// Appends `text` as a JSON string literal (quotes included). Invalid UTF-8 bytes become
// U+FFFD so the output is always valid JSON; used where building a whole nlohmann::json
// document would cost more than the line it produces (error bodies, log lines).
void appendJsonString(std::string& out, std::string_view text);

}  // namespace vigil
