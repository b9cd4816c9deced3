#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil {

// A ZIP archive (PKWARE APPNOTE 6.3) of the given files, stored without compression (the
// bundle's files are small and a reader needs no inflater): name -> bytes, names with '/'.
std::string makeZip(const std::map<std::string, std::string>& files);

// The same archive written to `archive` from files on disk (name in the archive -> file),
// a piece at a time: memory stays flat however large the files are. Entries and offsets past
// 4 GiB, and more than 65,534 entries, are written in ZIP64 form (APPNOTE 4.5.3); `zip64`
// writes every entry that way (tests use it to check readers without 4 GiB of data).
// `cancelled`, when given, is read between pieces; once true the writing stops. False with
// `error` set on failure (the archive is then incomplete).
bool writeZipFile(const std::filesystem::path& archive, const std::map<std::string, std::filesystem::path>& files,
                  std::string& error, const std::atomic<bool>* cancelled = nullptr, bool zip64 = false);

// The files of a ZIP archive written by makeZip or writeZipFile (stored entries only), or
// nullopt with `error` set: not a ZIP, a compressed entry, a CRC that does not match, a name
// that leaves the archive ("../") or that tools could read differently ("./x", "a//b", a
// backslash, a name given twice, a local header naming another file), offsets or sizes past
// the end.
std::optional<std::map<std::string, std::string>> readZip(std::string_view archive, std::string& error);

// The same checks on an archive file, its entries written into `dir` (which must exist) a
// piece at a time instead of into memory. On failure, files already written stay in `dir`
// for the caller to remove with it. The names written, in archive order.
std::optional<std::vector<std::string>> extractZipFile(const std::filesystem::path& archive, const std::filesystem::path& dir,
                                                       std::string& error);

}  // namespace vigil
