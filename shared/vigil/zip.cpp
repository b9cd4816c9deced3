#include "vigil/zip.h"

#include <set>

#include <array>
#include <cstdint>

namespace vigil {
namespace {

std::uint32_t crc32(std::string_view data) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (const unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

void put16(std::string& out, std::uint32_t v) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& out, std::uint32_t v) {
    put16(out, v & 0xFFFF);
    put16(out, v >> 16);
}
std::uint32_t get16(std::string_view s, std::size_t at) {
    return static_cast<unsigned char>(s[at]) | (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8);
}
std::uint32_t get32(std::string_view s, std::size_t at) { return get16(s, at) | (get16(s, at + 2) << 16); }

constexpr std::uint32_t kDosDate = (46u << 9) | (1u << 5) | 1u;  // 2026-01-01, a fixed time: same files, same bytes

}  // namespace

std::string makeZip(const std::map<std::string, std::string>& files) {
    std::string out, central;
    std::uint32_t count = 0;
    for (const auto& [name, data] : files) {
        const auto offset = static_cast<std::uint32_t>(out.size());
        const auto crc = crc32(data);
        const auto size = static_cast<std::uint32_t>(data.size());
        put32(out, 0x04034b50);
        put16(out, 20);  // version needed
        put16(out, 0x0800);  // UTF-8 names
        put16(out, 0);   // stored
        put16(out, 0);   // time
        put16(out, kDosDate);
        put32(out, crc);
        put32(out, size);
        put32(out, size);
        put16(out, static_cast<std::uint32_t>(name.size()));
        put16(out, 0);
        out += name;
        out += data;

        put32(central, 0x02014b50);
        put16(central, 20);  // made by
        put16(central, 20);
        put16(central, 0x0800);
        put16(central, 0);
        put16(central, 0);
        put16(central, kDosDate);
        put32(central, crc);
        put32(central, size);
        put32(central, size);
        put16(central, static_cast<std::uint32_t>(name.size()));
        put16(central, 0);  // extra
        put16(central, 0);  // comment
        put16(central, 0);  // disk
        put16(central, 0);  // internal attributes
        put32(central, 0);  // external attributes
        put32(central, offset);
        central += name;
        ++count;
    }
    const auto centralOffset = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, count);
    put16(out, count);
    put32(out, static_cast<std::uint32_t>(central.size()));
    put32(out, centralOffset);
    put16(out, 0);
    return out;
}

std::optional<std::map<std::string, std::string>> readZip(std::string_view z, std::string& error) {
    // The end of central directory record (no archive comment is written; allow one).
    std::size_t eocd = std::string_view::npos;
    for (std::size_t i = z.size() >= 22 ? z.size() - 22 : 0; z.size() >= 22; --i) {
        if (get32(z, i) == 0x06054b50) {
            eocd = i;
            break;
        }
        if (i == 0 || z.size() - i > 22 + 65535) break;
    }
    if (eocd == std::string_view::npos) {
        error = "not a ZIP archive";
        return std::nullopt;
    }
    const auto count = get16(z, eocd + 10);
    // Offsets and sizes are read as 64-bit sums, so that crafted 32-bit fields cannot wrap.
    std::uint64_t at = get32(z, eocd + 16);
    std::map<std::string, std::string> files;
    std::set<std::string> names;
    const auto inside = [&](std::uint64_t offset, std::uint64_t length) { return offset + length <= z.size(); };
    for (std::uint32_t i = 0; i < count; ++i) {
        if (!inside(at, 46) || get32(z, at) != 0x02014b50) {
            error = "the ZIP central directory is damaged";
            return std::nullopt;
        }
        const auto method = get16(z, at + 10);
        const auto crc = get32(z, at + 16);
        const std::uint64_t size = get32(z, at + 20);
        const auto nameLength = get16(z, at + 28);
        const auto extraLength = get16(z, at + 30);
        const auto commentLength = get16(z, at + 32);
        const std::uint64_t local = get32(z, at + 42);
        if (!inside(at + 46, nameLength)) {
            error = "the ZIP central directory is damaged";
            return std::nullopt;
        }
        const std::string name(z.substr(at + 46, nameLength));
        at += 46 + nameLength + extraLength + commentLength;
        if (method != 0) {
            error = name + ": compressed in the ZIP (bundles are stored uncompressed; extract it and verify the directory)";
            return std::nullopt;
        }
        // One spelling per file: no "." or empty segments, no backslashes, no control bytes,
        // so that every unzip tool puts each file where this reader reads it.
        bool plain = !name.empty() && name.front() != '/' && name.find('\\') == std::string::npos;
        for (const char c : name) plain = plain && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
        std::size_t from = 0;
        while (plain && from < name.size()) {
            const auto slash = name.find('/', from);
            const auto segment = std::string_view(name).substr(from, slash == std::string::npos ? slash : slash - from);
            if (segment.empty() || segment == "." || segment == "..") plain = false;
            if (slash == std::string::npos) break;
            from = slash + 1;
        }
        if (!plain) {
            error = "the ZIP holds a file outside the bundle, or under an ambiguous name: " + name;
            return std::nullopt;
        }
        if (!names.insert(name).second) {
            error = "the ZIP holds " + name + " twice (tools would extract one copy or the other)";
            return std::nullopt;
        }
        if (!inside(local, 30) || get32(z, local) != 0x04034b50) {
            error = name + ": its ZIP header is damaged";
            return std::nullopt;
        }
        const auto localNameLength = get16(z, local + 26);
        if (localNameLength != nameLength || !inside(local + 30, nameLength) || z.substr(local + 30, nameLength) != name) {
            error = name + ": its local ZIP header names another file (tools that read the archive as a stream would extract that)";
            return std::nullopt;
        }
        const std::uint64_t dataAt = local + 30 + localNameLength + get16(z, local + 28);
        if (!inside(dataAt, size)) {
            error = name + ": cut short in the ZIP";
            return std::nullopt;
        }
        std::string data(z.substr(dataAt, size));
        if (crc32(data) != crc) {
            error = name + ": its CRC in the ZIP does not match (damaged)";
            return std::nullopt;
        }
        if (name.back() != '/') files.emplace(name, std::move(data));
    }
    return files;
}

}  // namespace vigil
