#include "vigil/zip.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

namespace vigil {
namespace {

// CRC-32 (ISO-HDLC, as ZIP uses it), slicing by 8: a bundle of gigabytes is summed at
// memory speed rather than a byte at a time.
struct CrcTables {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    CrcTables() {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (std::size_t i = 0; i < 256; ++i) {
            for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
        }
    }
};

class Crc32 {
public:
    void update(std::string_view data) {
        static const CrcTables tables;
        const auto& t = tables.t;
        auto c = state_;
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        auto n = data.size();
        while (n >= 8) {
            const std::uint32_t lo = c ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                          static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
            c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^
                t[1][p[6]] ^ t[0][p[7]];
            p += 8;
            n -= 8;
        }
        while (n-- > 0) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        state_ = c;
    }
    std::uint32_t value() const { return state_ ^ 0xFFFFFFFFu; }

private:
    std::uint32_t state_ = 0xFFFFFFFFu;
};

std::uint32_t crc32(std::string_view data) {
    Crc32 c;
    c.update(data);
    return c.value();
}

void put16(std::string& out, std::uint32_t v) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& out, std::uint32_t v) {
    put16(out, v & 0xFFFF);
    put16(out, v >> 16);
}
void put64(std::string& out, std::uint64_t v) {
    put32(out, static_cast<std::uint32_t>(v & 0xFFFFFFFFu));
    put32(out, static_cast<std::uint32_t>(v >> 32));
}
std::uint32_t get16(std::string_view s, std::size_t at) {
    return static_cast<unsigned char>(s[at]) | (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8);
}
std::uint32_t get32(std::string_view s, std::size_t at) { return get16(s, at) | (get16(s, at + 2) << 16); }
std::uint64_t get64(std::string_view s, std::size_t at) { return get32(s, at) | (static_cast<std::uint64_t>(get32(s, at + 4)) << 32); }

constexpr std::uint32_t kDosDate = (46u << 9) | (1u << 5) | 1u;  // 2026-01-01, a fixed time: same files, same bytes
constexpr std::uint32_t kMax16 = 0xFFFF;
constexpr std::uint32_t kMax32 = 0xFFFFFFFFu;

struct Entry {
    std::string name;
    std::uint64_t size = 0;
    std::uint32_t crc = 0;
    std::uint64_t offset = 0;  // of its local header
    bool zip64 = false;        // sizes in the ZIP64 extra field
};

// The local header; the CRC is at offset 14 of it (writeZipFile fills it in afterwards).
void appendLocalHeader(std::string& out, const Entry& e) {
    put32(out, 0x04034b50);
    put16(out, e.zip64 ? 45 : 20);  // version needed
    put16(out, 0x0800);             // UTF-8 names
    put16(out, 0);                  // stored
    put16(out, 0);                  // time
    put16(out, kDosDate);
    put32(out, e.crc);
    put32(out, e.zip64 ? kMax32 : static_cast<std::uint32_t>(e.size));
    put32(out, e.zip64 ? kMax32 : static_cast<std::uint32_t>(e.size));
    put16(out, static_cast<std::uint32_t>(e.name.size()));
    put16(out, e.zip64 ? 20 : 0);
    out += e.name;
    if (e.zip64) {
        put16(out, 0x0001);  // ZIP64 extended information: both sizes, always, in a local header
        put16(out, 16);
        put64(out, e.size);
        put64(out, e.size);
    }
}

void appendCentralHeader(std::string& out, const Entry& e, bool forceZip64) {
    const bool bigSize = e.zip64;
    const bool bigOffset = forceZip64 || e.offset >= kMax32;
    const std::uint32_t extra = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
    const std::uint32_t version = extra > 0 ? 45 : 20;
    put32(out, 0x02014b50);
    put16(out, version);  // made by
    put16(out, version);  // needed
    put16(out, 0x0800);
    put16(out, 0);
    put16(out, 0);
    put16(out, kDosDate);
    put32(out, e.crc);
    put32(out, bigSize ? kMax32 : static_cast<std::uint32_t>(e.size));
    put32(out, bigSize ? kMax32 : static_cast<std::uint32_t>(e.size));
    put16(out, static_cast<std::uint32_t>(e.name.size()));
    put16(out, extra > 0 ? extra + 4 : 0);
    put16(out, 0);  // comment
    put16(out, 0);  // disk
    put16(out, 0);  // internal attributes
    put32(out, 0);  // external attributes
    put32(out, bigOffset ? kMax32 : static_cast<std::uint32_t>(e.offset));
    out += e.name;
    if (extra > 0) {
        // Only the fields saturated above, in the order APPNOTE 4.5.3 gives.
        put16(out, 0x0001);
        put16(out, extra);
        if (bigSize) {
            put64(out, e.size);
            put64(out, e.size);
        }
        if (bigOffset) put64(out, e.offset);
    }
}

void appendEnd(std::string& out, std::uint64_t count, std::uint64_t centralSize, std::uint64_t centralOffset, bool forceZip64) {
    const bool zip64 = forceZip64 || count >= kMax16 || centralSize >= kMax32 || centralOffset >= kMax32;
    if (zip64) {
        const std::uint64_t recordAt = centralOffset + centralSize;
        put32(out, 0x06064b50);  // ZIP64 end of central directory record
        put64(out, 44);          // its size after this field
        put16(out, 45);
        put16(out, 45);
        put32(out, 0);
        put32(out, 0);
        put64(out, count);
        put64(out, count);
        put64(out, centralSize);
        put64(out, centralOffset);
        put32(out, 0x07064b50);  // its locator
        put32(out, 0);
        put64(out, recordAt);
        put32(out, 1);
    }
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, zip64 ? kMax16 : static_cast<std::uint32_t>(count));
    put16(out, zip64 ? kMax16 : static_cast<std::uint32_t>(count));
    put32(out, zip64 ? kMax32 : static_cast<std::uint32_t>(centralSize));
    put32(out, zip64 ? kMax32 : static_cast<std::uint32_t>(centralOffset));
    put16(out, 0);
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    bool close() {
        const int fd = fd_;
        fd_ = -1;
        return fd < 0 || ::close(fd) == 0;
    }

private:
    int fd_;
};

bool writeAll(int fd, std::string_view data) {
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool readExactly(int fd, std::uint64_t at, std::size_t length, std::string& out) {
    out.resize(length);
    std::size_t done = 0;
    while (done < length) {
        const auto n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(at + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

constexpr std::size_t kPiece = 1 << 20;

// Where an archive's bytes come from: memory or a file, read at offsets.
class Source {
public:
    virtual ~Source() = default;
    virtual std::uint64_t size() const = 0;
    // `length` bytes at `at` (the caller checked they are inside).
    virtual bool read(std::uint64_t at, std::size_t length, std::string& out) const = 0;
};

class MemorySource final : public Source {
public:
    explicit MemorySource(std::string_view z) : z_(z) {}
    std::uint64_t size() const override { return z_.size(); }
    bool read(std::uint64_t at, std::size_t length, std::string& out) const override {
        out.assign(z_.substr(static_cast<std::size_t>(at), length));
        return true;
    }

private:
    std::string_view z_;
};

class FileSource final : public Source {
public:
    FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
    std::uint64_t size() const override { return size_; }
    bool read(std::uint64_t at, std::size_t length, std::string& out) const override { return readExactly(fd_, at, length, out); }

private:
    int fd_;
    std::uint64_t size_;
};

struct Member {
    std::string name;
    std::uint64_t local = 0;   // its local header
    std::uint64_t dataAt = 0;
    std::uint64_t size = 0;
    std::uint32_t crc = 0;
};

// A name for a message: bytes a terminal would act on written as \xNN.
std::string printable(std::string_view name) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char ch : name) {
        const auto b = static_cast<unsigned char>(ch);
        if (b < 0x20 || b == 0x7f) {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

// One spelling per file: no "." or empty segments, no backslashes, no control bytes, so that
// every unzip tool puts each file where this reader reads it.
bool plainName(const std::string& name) {
    bool plain = !name.empty() && name.front() != '/' && name.find('\\') == std::string::npos;
    for (const char ch : name) plain = plain && static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f;
    std::size_t from = 0;
    while (plain && from < name.size()) {
        const auto slash = name.find('/', from);
        const auto segment = std::string_view(name).substr(from, slash == std::string::npos ? slash : slash - from);
        if (segment.empty() || segment == "." || segment == "..") plain = false;
        if (slash == std::string::npos) break;
        from = slash + 1;
    }
    return plain;
}

// The general-purpose flags a bundle's entries may carry: UTF-8 names, nothing else (no
// encryption, no data descriptor, whose sizes a streaming reader would take instead).
constexpr std::uint32_t kAllowedFlags = 0x0800;

// The members of an archive with every structural check done (not the CRCs, which need
// the data): offsets and sizes are 64-bit sums bounded by the archive's size, so crafted
// fields cannot wrap or point outside it. The archive must be laid out as one reading that
// every tool agrees on: the central directory ends where the end records begin and holds
// exactly the entries it counts, each local header repeats its central entry, and no
// entry's bytes overlap another's (so an archive cannot be read one way here and another
// way by unzip or Python, nor expand beyond its own size).
std::optional<std::vector<Member>> members(const Source& z, std::string& error) {
    const auto total = z.size();
    const auto inside = [&](std::uint64_t offset, std::uint64_t length) { return offset <= total && length <= total - offset; };
    const auto damaged = [&](const std::string& what) {
        error = what;
        return std::nullopt;
    };
    // The end of central directory record (no archive comment is written; allow one).
    const std::uint64_t tailLength = std::min<std::uint64_t>(total, 22 + 65535 + 20 + 56);
    std::string tail;
    if (total < 22 || !z.read(total - tailLength, static_cast<std::size_t>(tailLength), tail)) return damaged("not a ZIP archive");
    std::size_t eocd = std::string::npos;
    for (std::size_t i = tail.size() - 22;; --i) {
        if (get32(tail, i) == 0x06054b50 && get16(tail, i + 20) == tail.size() - i - 22) {
            eocd = i;
            break;
        }
        if (i == 0 || tail.size() - i > 22 + 65535) break;
    }
    if (eocd == std::string::npos) return damaged("not a ZIP archive");
    const std::uint64_t eocdAt = total - tailLength + eocd;
    if (get16(tail, eocd + 4) != 0 || get16(tail, eocd + 6) != 0 || get16(tail, eocd + 8) != get16(tail, eocd + 10)) {
        return damaged("the ZIP spans several disks");
    }
    std::uint64_t count = get16(tail, eocd + 10);
    std::uint64_t centralSize = get32(tail, eocd + 12);
    std::uint64_t at = get32(tail, eocd + 16);
    std::uint64_t centralEnd = eocdAt;  // where the central directory must end
    // ZIP64: its locator sits right before the classic record, and the ZIP64 record right
    // before the locator (where Python looks for it; the locator's offset must agree).
    if (eocd >= 20 && get32(tail, eocd - 20) == 0x07064b50) {
        const auto recordAt = get64(tail, eocd - 20 + 8);
        std::string record;
        if (eocdAt < 20 + 56 || recordAt != eocdAt - 20 - 56 || !z.read(recordAt, 56, record) || get32(record, 0) != 0x06064b50 ||
            get64(record, 4) != 44 || get32(tail, eocd - 20 + 4) != 0 || get32(tail, eocd - 20 + 16) != 1) {
            return damaged("the ZIP64 end of central directory is damaged");
        }
        if (get32(record, 16) != 0 || get32(record, 20) != 0 || get64(record, 24) != get64(record, 32)) {
            return damaged("the ZIP spans several disks");
        }
        count = get64(record, 32);
        centralSize = get64(record, 40);
        at = get64(record, 48);
        centralEnd = recordAt;
    } else if (count == kMax16 || centralSize == kMax32 || at == kMax32) {
        return damaged("the ZIP end of central directory is damaged (ZIP64 values without their record)");
    }
    // Every central entry takes at least 46 bytes; a bundle's directory is small.
    constexpr std::uint64_t kMaxCentral = 64ull << 20;
    if (!inside(at, centralSize) || at + centralSize != centralEnd || centralSize > kMaxCentral || count > centralSize / 46) {
        return damaged("the ZIP central directory is damaged");
    }
    std::string central;
    if (!z.read(at, static_cast<std::size_t>(centralSize), central)) return damaged("the ZIP central directory cannot be read");
    std::vector<Member> out;
    std::set<std::string> names;
    std::size_t c = 0;
    std::string header, localName, localExtra;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (central.size() - c < 46 || get32(central, c) != 0x02014b50) return damaged("the ZIP central directory is damaged");
        const auto flags = get16(central, c + 8);
        const auto method = get16(central, c + 10);
        const auto crc = get32(central, c + 16);
        std::uint64_t compressed = get32(central, c + 20);
        std::uint64_t size = get32(central, c + 24);
        const auto nameLength = get16(central, c + 28);
        const auto extraLength = get16(central, c + 30);
        const auto commentLength = get16(central, c + 32);
        const auto diskStart = get16(central, c + 34);
        std::uint64_t local = get32(central, c + 42);
        if (central.size() - c - 46 < static_cast<std::size_t>(nameLength) + extraLength + commentLength) {
            return damaged("the ZIP central directory is damaged");
        }
        const std::string name = central.substr(c + 46, nameLength);
        const std::string_view extra = std::string_view(central).substr(c + 46 + nameLength, extraLength);
        c += 46 + static_cast<std::size_t>(nameLength) + extraLength + commentLength;
        if (!plainName(name)) return damaged("the ZIP holds a file outside the bundle, or under an ambiguous name: " + printable(name));
        if (!names.insert(name).second) return damaged("the ZIP holds " + name + " twice (tools would extract one copy or the other)");
        if (method != 0) {
            return damaged(name + ": compressed in the ZIP (bundles are stored uncompressed; extract it and verify the directory)");
        }
        if ((flags & ~kAllowedFlags) != 0 || diskStart != 0) {
            return damaged(name + ": uses ZIP features a bundle does not (encryption, a data descriptor or another disk)");
        }
        if (size == kMax32 || compressed == kMax32 || local == kMax32) {
            // The ZIP64 extra field holds, in order, the fields saturated above.
            std::optional<std::string_view> values;
            for (std::size_t e = 0; e + 4 <= extra.size();) {
                const auto id = get16(extra, e);
                const auto length = get16(extra, e + 2);
                if (extra.size() - e - 4 < length) break;
                if (id == 0x0001) values = extra.substr(e + 4, length);
                e += 4 + static_cast<std::size_t>(length);
            }
            std::size_t v = 0;
            const auto next = [&](std::uint64_t& field) {
                if (field != kMax32) return true;
                if (!values || values->size() - v < 8) return false;
                field = get64(*values, v);
                v += 8;
                return true;
            };
            if (!next(size) || !next(compressed) || !next(local)) return damaged(name + ": its ZIP64 sizes or offset are missing");
        }
        if (compressed != size) return damaged(name + ": its stored and original sizes differ in the ZIP (damaged)");
        if (name.back() == '/' && size != 0) return damaged(name + ": a directory with data in the ZIP (damaged)");
        // The local header repeats the central entry: streaming readers go by it alone.
        if (!inside(local, 30) || !z.read(local, 30, header) || get32(header, 0) != 0x04034b50) {
            return damaged(name + ": its ZIP header is damaged");
        }
        const auto localNameLength = get16(header, 26);
        const auto localExtraLength = get16(header, 28);
        if (localNameLength != nameLength || !inside(local + 30, nameLength) || !z.read(local + 30, nameLength, localName) ||
            localName != name) {
            return damaged(name + ": its local ZIP header names another file (tools that read the archive as a stream would extract that)");
        }
        std::uint64_t localCompressed = get32(header, 18);
        std::uint64_t localSize = get32(header, 22);
        if (localCompressed == kMax32 && localSize == kMax32) {
            // ZIP64 in the local header: both sizes in its extra field.
            if (!inside(local + 30 + nameLength, localExtraLength) || !z.read(local + 30 + nameLength, localExtraLength, localExtra)) {
                return damaged(name + ": its ZIP header is damaged");
            }
            bool found = false;
            for (std::size_t e = 0; e + 4 <= localExtra.size();) {
                const auto id = get16(localExtra, e);
                const auto length = get16(localExtra, e + 2);
                if (localExtra.size() - e - 4 < length) break;
                if (id == 0x0001 && length >= 16) {
                    localSize = get64(localExtra, e + 4);
                    localCompressed = get64(localExtra, e + 12);
                    found = true;
                }
                e += 4 + static_cast<std::size_t>(length);
            }
            if (!found) return damaged(name + ": its local ZIP64 sizes are missing");
        }
        if (get16(header, 6) != flags || get16(header, 8) != method || get32(header, 14) != crc || localCompressed != compressed ||
            localSize != size) {
            return damaged(name + ": its local ZIP header differs from the central directory (tools could read it differently)");
        }
        const std::uint64_t dataAt = local + 30 + localNameLength + localExtraLength;
        if (!inside(dataAt, compressed)) return damaged(name + ": cut short in the ZIP");
        out.push_back({name, local, dataAt, size, crc});
    }
    if (c != central.size()) return damaged("the ZIP central directory holds more entries than it counts");
    // No entry overlaps another, or the central directory: the archive holds each byte once.
    std::vector<const Member*> byOffset;
    for (const auto& m : out) byOffset.push_back(&m);
    std::sort(byOffset.begin(), byOffset.end(), [](const Member* a, const Member* b) { return a->local < b->local; });
    for (std::size_t i = 0; i < byOffset.size(); ++i) {
        const auto end = byOffset[i]->dataAt + byOffset[i]->size;
        const auto limit = i + 1 < byOffset.size() ? byOffset[i + 1]->local : at;
        if (end > limit) return damaged(byOffset[i]->name + ": overlaps another entry of the ZIP (damaged or crafted)");
    }
    // A file may not also be a directory of another ("a" and "a/b"): tools would write one.
    for (const auto& name : names) {
        for (auto slash = name.find('/'); slash != std::string::npos && slash + 1 < name.size(); slash = name.find('/', slash + 1)) {
            if (names.contains(name.substr(0, slash))) return damaged("the ZIP holds " + name.substr(0, slash) + " both as a file and as a directory");
        }
    }
    return out;
}

}  // namespace

std::string makeZip(const std::map<std::string, std::string>& files) {
    std::string out, central;
    std::uint64_t count = 0;
    for (const auto& [name, data] : files) {
        Entry e{name, data.size(), crc32(data), out.size(), data.size() >= kMax32};
        appendLocalHeader(out, e);
        out += data;
        appendCentralHeader(central, e, false);
        ++count;
    }
    const auto centralOffset = out.size();
    out += central;
    appendEnd(out, count, central.size(), centralOffset, false);
    return out;
}

bool writeZipFile(const std::filesystem::path& archive, const std::map<std::string, std::filesystem::path>& files,
                  std::string& error, const std::atomic<bool>* cancelled, bool zip64) {
    Fd out(::open(archive.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (out.get() < 0) {
        error = "cannot create " + archive.string() + ": " + std::strerror(errno);
        return false;
    }
    const auto failed = [&](const std::string& what) {
        error = what + ": " + std::strerror(errno);
        return false;
    };
    std::vector<Entry> entries;
    std::uint64_t offset = 0;
    std::string head, piece;
    for (const auto& [name, path] : files) {
        Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (in.get() < 0 || ::fstat(in.get(), &st) != 0) return failed("cannot read " + path.string());
        Entry e{name, static_cast<std::uint64_t>(st.st_size), 0, offset, zip64 || static_cast<std::uint64_t>(st.st_size) >= kMax32};
        head.clear();
        appendLocalHeader(head, e);
        if (!writeAll(out.get(), head)) return failed("cannot write " + archive.string());
        Crc32 crc;
        std::uint64_t copied = 0;
        piece.resize(kPiece);
        for (;;) {
            if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
                error = "cancelled";
                return false;
            }
            const auto n = ::read(in.get(), piece.data(), piece.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return failed("cannot read " + path.string());
            if (n == 0) break;
            const std::string_view data(piece.data(), static_cast<std::size_t>(n));
            crc.update(data);
            if (!writeAll(out.get(), data)) return failed("cannot write " + archive.string());
            copied += data.size();
        }
        if (copied != e.size) {
            error = path.string() + " changed while it was archived";
            return false;
        }
        e.crc = crc.value();
        std::string crcBytes;
        put32(crcBytes, e.crc);
        if (::pwrite(out.get(), crcBytes.data(), 4, static_cast<off_t>(e.offset + 14)) != 4) {
            return failed("cannot write " + archive.string());
        }
        offset += head.size() + e.size;
        entries.push_back(std::move(e));
    }
    std::string tail;
    for (const auto& e : entries) appendCentralHeader(tail, e, zip64);
    const auto centralSize = tail.size();
    appendEnd(tail, entries.size(), centralSize, offset, zip64);
    if (!writeAll(out.get(), tail) || !out.close()) return failed("cannot write " + archive.string());
    return true;
}

std::optional<std::map<std::string, std::string>> readZip(std::string_view z, std::string& error) {
    const MemorySource source(z);
    const auto list = members(source, error);
    if (!list) return std::nullopt;
    std::map<std::string, std::string> files;
    for (const auto& m : *list) {
        std::string data(z.substr(static_cast<std::size_t>(m.dataAt), static_cast<std::size_t>(m.size)));
        if (crc32(data) != m.crc) {
            error = m.name + ": its CRC in the ZIP does not match (damaged)";
            return std::nullopt;
        }
        if (m.name.back() != '/') files.emplace(m.name, std::move(data));
    }
    return files;
}

std::optional<std::vector<std::string>> extractZipFile(const std::filesystem::path& archive, const std::filesystem::path& dir,
                                                       std::string& error) {
    Fd in(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (in.get() < 0 || ::fstat(in.get(), &st) != 0) {
        error = "cannot be read: " + std::string(std::strerror(errno));
        return std::nullopt;
    }
    const FileSource source(in.get(), static_cast<std::uint64_t>(st.st_size));
    const auto list = members(source, error);
    if (!list) return std::nullopt;
    std::vector<std::string> written;
    std::string piece;
    for (const auto& m : *list) {
        // The names were checked above: relative, no "." or ".." segments.
        const auto target = dir / m.name;
        std::error_code ec;
        if (m.name.back() == '/') {
            std::filesystem::create_directories(target, ec);
            if (ec) {
                error = m.name + ": cannot be created: " + ec.message();
                return std::nullopt;
            }
            continue;
        }
        std::filesystem::create_directories(target.parent_path(), ec);
        Fd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (ec || out.get() < 0) {
            error = m.name + ": cannot be written to " + target.string() + ": " + (ec ? ec.message() : std::strerror(errno));
            return std::nullopt;
        }
        Crc32 crc;
        for (std::uint64_t done = 0; done < m.size;) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, m.size - done));
            if (!source.read(m.dataAt + done, n, piece)) {
                error = m.name + ": cannot be read from the ZIP";
                return std::nullopt;
            }
            crc.update(piece);
            if (!writeAll(out.get(), piece)) {
                error = m.name + ": cannot be written to " + target.string() + ": " + std::strerror(errno);
                return std::nullopt;
            }
            done += n;
        }
        if (!out.close()) {
            error = m.name + ": cannot be written to " + target.string() + ": " + std::strerror(errno);
            return std::nullopt;
        }
        if (crc.value() != m.crc) {
            error = m.name + ": its CRC in the ZIP does not match (damaged)";
            return std::nullopt;
        }
        written.push_back(m.name);
    }
    return written;
}

}  // namespace vigil
