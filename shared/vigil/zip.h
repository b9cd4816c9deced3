#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

// A ZIP archive (PKWARE APPNOTE 6.3) of the given files, stored without compression (the
// bundle's files are small and a reader needs no inflater): name -> bytes, names with '/'.
std::string makeZip(const std::map<std::string, std::string>& files);

// The files of a ZIP archive written by makeZip (stored entries only), or nullopt with
// `error` set: not a ZIP, a compressed entry, a CRC that does not match, a name that leaves
// the archive ("../") or that tools could read differently ("./x", "a//b", a backslash, a
// name given twice, a local header naming another file), offsets or sizes past the end.
std::optional<std::map<std::string, std::string>> readZip(std::string_view archive, std::string& error);

}  // namespace vigil
