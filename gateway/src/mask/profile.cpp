#include "mask/profile.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <sstream>

#include <hs/hs.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto/digest.h"
#include "scan/pattern_set.h"
#include "vigil/json_text.h"
#include "vigil/percent_encoding.h"

namespace vigil::mask {
namespace {

std::atomic<std::uint64_t> nextGeneration{1};

// Values longer than this are not matched by custom patterns, so a stream never holds
// back more than this for them.
constexpr unsigned kMaxCustomWidth = 1024;

bool isAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isWordChar(char c) { return isAlnum(c) || c == '_'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowerCopy(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}

struct ThreadScratch {
    hs_scratch_t* scratch = nullptr;
    std::vector<std::uint64_t> fitted;
    ~ThreadScratch() {
        if (scratch != nullptr) hs_free_scratch(scratch);
    }
};

struct Candidate {
    std::uint32_t detector;
    std::size_t begin;
    std::size_t end;
};

unsigned flagsFor(const Detector& detector) {
    // Byte mode (no UTF8 flag): bodies need not be valid UTF-8; the built-in patterns that
    // read non-ASCII text name UTF-8 bytes. \b and \d are ASCII classes.
    unsigned flags = HS_FLAG_SOM_LEFTMOST;
    if (detector.caseless) flags |= HS_FLAG_CASELESS;
    return flags;
}

// The longest text `regex` can match, if it is a valid custom detector (checkCustomRegex).
std::optional<unsigned> customRegexWidth(const std::string& regex, bool caseless, std::string& error) {
    Detector detector;
    detector.caseless = caseless;
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* compileError = nullptr;
    if (hs_expression_info(regex.c_str(), flagsFor(detector), &info, &compileError) != HS_SUCCESS) {
        error = compileError != nullptr ? compileError->message : "cannot compile";
        hs_free_compile_error(compileError);
        return std::nullopt;
    }
    const auto maxWidth = info->max_width;
    const auto minWidth = info->min_width;
    std::free(info);
    if (minWidth == 0) {
        error = "the pattern matches empty text";
        return std::nullopt;
    }
    if (maxWidth == UINT_MAX || maxWidth > kMaxCustomWidth) {
        error = "the pattern can match more than " + std::to_string(kMaxCustomWidth) +
                " characters; bound its repetitions (e.g. {1,64} instead of +)";
        return std::nullopt;
    }
    hs_database_t* db = nullptr;
    if (hs_compile(regex.c_str(), flagsFor(detector), HS_MODE_BLOCK, nullptr, &db, &compileError) != HS_SUCCESS) {
        error = compileError != nullptr ? compileError->message : "cannot compile";
        hs_free_compile_error(compileError);
        return std::nullopt;
    }
    hs_free_database(db);
    return maxWidth;
}

}  // namespace

struct Profile::Database {
    hs_database_t* db = nullptr;
    ~Database() {
        if (db != nullptr) hs_free_database(db);
    }
};

Profile::~Profile() { delete database_; }

std::shared_ptr<const Profile> Profile::compile(ProfileSpec spec, std::string& error) {
    std::shared_ptr<Profile> profile(new Profile());
    for (const auto& detector : builtinDetectors()) {
        if (std::find(spec.entities.begin(), spec.entities.end(), detector.entity) != spec.entities.end()) {
            profile->detectors_.push_back(detector);
        }
    }
    for (std::size_t i = 0; i < spec.custom.size(); ++i) {
        const auto& c = spec.custom[i];
        Detector detector;
        detector.entity = c.entity;
        if (!c.words.empty()) {
            std::string alternation;
            std::size_t longest = 0;
            for (const auto& word : c.words) {
                if (!alternation.empty()) alternation += '|';
                // Whole words: a boundary where the word begins or ends with a word character.
                if (isWordChar(word.front())) alternation += "\\b";
                alternation += scan::PatternSet::escape(word);
                if (isWordChar(word.back())) alternation += "\\b";
                longest = std::max(longest, word.size());
                for (const char ch : word) {
                    detector.holdAlphabet.set(static_cast<unsigned char>(lower(ch)));
                    detector.holdAlphabet.set(static_cast<unsigned char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch));
                }
            }
            detector.expressions = {"(?:" + alternation + ")"};
            detector.caseless = true;
            detector.holdWidth = longest;
        } else {
            detector.expressions = {c.regex};
            detector.caseless = c.caseless;
            std::string problem;
            const auto width = customRegexWidth(c.regex, c.caseless, problem);
            if (!width) {
                error = "custom detector " + std::to_string(i) + " (" + c.entity + "): " + problem;
                return nullptr;
            }
            detector.holdWidth = *width;
            detector.holdAlphabet.set();
        }
        profile->detectors_.push_back(std::move(detector));
    }
    for (const auto& field : spec.fields) {
        auto path = JsonPath::parse(field.path, error);
        if (!path) return nullptr;
        profile->fieldPaths_.push_back(std::move(*path));
    }
    for (const auto& column : spec.columns) profile->columnsLower_.push_back(lowerCopy(column.column));

    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (std::uint32_t d = 0; d < profile->detectors_.size(); ++d) {
        for (const auto& e : profile->detectors_[d].expressions) {
            expressions.push_back(e.c_str());
            flags.push_back(flagsFor(profile->detectors_[d]));
            ids.push_back(static_cast<unsigned>(profile->expressionDetector_.size()));
            profile->expressionDetector_.push_back(d);
        }
    }
    if (!expressions.empty()) {
        auto database = std::make_unique<Database>();
        hs_compile_error_t* compileError = nullptr;
        if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(expressions.size()),
                             HS_MODE_BLOCK, nullptr, &database->db, &compileError) != HS_SUCCESS) {
            std::string which;
            if (compileError != nullptr && compileError->expression >= 0) {
                which = profile->detectors_[profile->expressionDetector_[static_cast<std::size_t>(compileError->expression)]].entity +
                        ": ";
            }
            error = which + (compileError != nullptr ? compileError->message : "cannot compile the detectors");
            hs_free_compile_error(compileError);
            return nullptr;
        }
        profile->database_ = database.release();
        profile->generation_ = nextGeneration.fetch_add(1);
    }

    // find() reads values written percent-encoded too: where a detector's value may hold bytes
    // a URL encodes (a space, '@', '+'), its run may also hold '%' and those bytes' hex
    // digits, and take three bytes for each. (Not for the long values, key blocks and
    // tokens, which are not written into URLs.)
    for (auto& detector : profile->detectors_) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        if (detector.holdWidth > 256) continue;
        bool encodable = false;
        for (int c = 0; c < 256; ++c) {
            if (!detector.holdAlphabet.test(static_cast<std::size_t>(c)) || isUnreservedByte(static_cast<unsigned char>(c))) continue;
            encodable = true;
            for (const char hex : {kHex[c >> 4], kHex[c & 0xF]}) {
                detector.holdAlphabet.set(static_cast<unsigned char>(hex));
                if (hex >= 'A') detector.holdAlphabet.set(static_cast<unsigned char>(hex - 'A' + 'a'));
            }
        }
        if (!encodable) continue;
        detector.holdAlphabet.set(static_cast<unsigned char>('%'));
        detector.holdWidth *= 3;
    }
    profile->holdMask_.assign(256, 0);
    for (std::size_t d = 0; d < profile->detectors_.size() && d < 64; ++d) {
        const auto& detector = profile->detectors_[d];
        for (int c = 0; c < 256; ++c) {
            if (detector.holdAlphabet.test(static_cast<std::size_t>(c))) profile->holdMask_[static_cast<std::size_t>(c)] |= std::uint64_t{1} << d;
        }
    }
    for (const auto& detector : profile->detectors_) profile->maxHold_ = std::max(profile->maxHold_, detector.holdWidth);
    // CSV cells are released a whole line at a time.
    if (!profile->columnsLower_.empty()) profile->maxHold_ = std::max<std::size_t>(profile->maxHold_, 4096);
    profile->spec_ = std::move(spec);
    return profile;
}

std::string_view Profile::entityOf(const Span& span) const {
    if (span.source < detectors_.size()) return detectors_[span.source].entity;
    const auto column = span.source - detectors_.size();
    if (column < spec_.columns.size()) return spec_.columns[column].entity;
    return "FIELD";
}

namespace {


bool isEscapeAt(std::string_view text, std::size_t i) {
    return i + 2 < text.size() && text[i] == '%' && hexDigitValue(text[i + 1]) >= 0 && hexDigitValue(text[i + 2]) >= 0;
}

// `text` with every %XX decoded; origin[k] is where decoded byte k starts in `text`, and
// origin[decoded.size()] is text.size().
void percentDecode(std::string_view text, std::string& decoded, std::vector<std::size_t>& origin) {
    decoded.clear();
    origin.clear();
    for (std::size_t i = 0; i < text.size();) {
        origin.push_back(i);
        if (isEscapeAt(text, i)) {
            decoded += static_cast<char>(hexDigitValue(text[i + 1]) * 16 + hexDigitValue(text[i + 2]));
            i += 3;
        } else {
            decoded += text[i++];
        }
    }
    origin.push_back(text.size());
}

bool hasEscape(std::string_view text, std::size_t from, std::size_t to) {
    for (auto i = text.find('%', from); i != std::string_view::npos && i < to; i = text.find('%', i + 1)) {
        if (i + 3 <= to && isEscapeAt(text, i)) return true;
    }
    return false;
}

}  // namespace

void Profile::collect(std::string_view text, std::vector<Span>& found) const {
    thread_local std::vector<Candidate> candidates;
    candidates.clear();
    if (database_ != nullptr && !text.empty()) {
        thread_local ThreadScratch local;
        if (std::find(local.fitted.begin(), local.fitted.end(), generation_) == local.fitted.end()) {
            if (hs_alloc_scratch(database_->db, &local.scratch) != HS_SUCCESS) throw std::bad_alloc();
            if (local.fitted.size() >= 16) local.fitted.erase(local.fitted.begin());
            local.fitted.push_back(generation_);
        }
        struct Context {
            const Profile* self;
        } context{this};
        // A scan that cannot run must not pass the text on as if nothing were in it: the
        // exception ends the exchange (fail closed), as running out of memory would.
        const auto status = hs_scan(
            database_->db, text.data(), static_cast<unsigned>(text.size()), 0, local.scratch,
            [](unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
                const auto* self = static_cast<Context*>(ctx)->self;
                candidates.push_back({self->expressionDetector_[id], static_cast<std::size_t>(from), static_cast<std::size_t>(to)});
                return 0;
            },
            &context);
        if (status != HS_SUCCESS) throw std::runtime_error("the masking scan failed (Hyperscan error " + std::to_string(status) + ")");
    }
    // For each detector and start, the longest end that validates.
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        if (a.detector != b.detector) return a.detector < b.detector;
        if (a.begin != b.begin) return a.begin < b.begin;
        return a.end > b.end;
    });
    for (std::size_t i = 0; i < candidates.size();) {
        std::size_t j = i;
        bool accepted = false;
        for (; j < candidates.size() && candidates[j].detector == candidates[i].detector &&
               candidates[j].begin == candidates[i].begin;
             ++j) {
            if (accepted) continue;
            const auto& detector = detectors_[candidates[j].detector];
            std::size_t begin = candidates[j].begin, end = candidates[j].end;
            if (detector.validate == nullptr || detector.validate(text, begin, end)) {
                if (end > begin) found.push_back({begin, end, candidates[j].detector});
                accepted = true;
            }
        }
        i = j;
    }
}

void Profile::find(std::string_view text, std::vector<Span>& out) const {
    out.clear();
    thread_local std::vector<Span> found;
    found.clear();
    collect(text, found);
    if (hasEscape(text, 0, text.size())) {
        // Values in URLs and encoded parameters: scanned again decoded. Only what covers an
        // escape is new (the rest was found, or refused, as written).
        thread_local std::string decoded;
        thread_local std::vector<std::size_t> origin;
        thread_local std::vector<Span> more;
        percentDecode(text, decoded, origin);
        more.clear();
        collect(decoded, more);
        for (const auto& span : more) {
            Span mapped{origin[span.begin], origin[span.end], span.source, true};
            if (hasEscape(text, mapped.begin, mapped.end)) found.push_back(mapped);
        }
    }

    // CSV columns first (the profile named them), then the longer value, then the
    // detector listed first.
    findCsvColumns(text, &out);
    std::sort(found.begin(), found.end(), [](const Span& a, const Span& b) {
        const auto la = a.end - a.begin, lb = b.end - b.begin;
        if (la != lb) return la > lb;
        if (a.source != b.source) return a.source < b.source;
        return a.begin < b.begin;
    });
    std::sort(out.begin(), out.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (const auto& span : found) {
        auto it = std::lower_bound(out.begin(), out.end(), span.begin,
                                   [](const Span& s, std::size_t begin) { return s.end <= begin; });
        if (it != out.end() && it->begin < span.end) continue;  // overlaps one already taken
        out.insert(it, span);
    }
}

std::string Profile::openTableContext(std::string_view text) const {
    if (columnsLower_.empty() || !text.ends_with('\n')) return {};
    std::optional<OpenTable> open;
    findCsvColumns(text, nullptr, &open);
    if (!open) return {};
    std::string context(text.substr(open->headerBegin, open->headerEnd - open->headerBegin));
    context += '\n';
    context.append(text.substr(open->lastRowBegin));
    return context;
}

void Profile::findCsvColumns(std::string_view text, std::vector<Span>* out, std::optional<OpenTable>* open) const {
    if (columnsLower_.empty()) return;
    // A table: two or more consecutive lines with the same number (>= 1) of the same
    // delimiter; its first line is the header.
    struct Line {
        std::size_t begin, end;
    };
    std::vector<Line> lines;
    for (std::size_t at = 0; at <= text.size();) {
        auto stop = text.find('\n', at);
        if (stop == std::string_view::npos) stop = text.size();
        auto end = stop;
        if (end > at && text[end - 1] == '\r') --end;
        lines.push_back({at, end});
        at = stop + 1;
    }
    auto cells = [&](const Line& line, char delimiter) {
        std::vector<Line> result;
        std::size_t start = line.begin;
        bool quoted = false;
        for (std::size_t i = line.begin; i <= line.end; ++i) {
            if (i < line.end && text[i] == '"') quoted = !quoted;
            if (i == line.end || (text[i] == delimiter && !quoted)) {
                result.push_back({start, i});
                start = i + 1;
            }
        }
        return result;
    };
    auto count = [&](const Line& line, char delimiter) {
        std::size_t n = 0;
        bool quoted = false;
        for (std::size_t i = line.begin; i < line.end; ++i) {
            if (text[i] == '"') quoted = !quoted;
            if (text[i] == delimiter && !quoted) ++n;
        }
        return n;
    };
    auto trimmed = [&](Line cell) {
        while (cell.begin < cell.end && (text[cell.begin] == ' ' || text[cell.begin] == '\t')) ++cell.begin;
        while (cell.end > cell.begin && (text[cell.end - 1] == ' ' || text[cell.end - 1] == '\t')) --cell.end;
        if (cell.end - cell.begin >= 2 && text[cell.begin] == '"' && text[cell.end - 1] == '"') {
            ++cell.begin;
            --cell.end;
        }
        return cell;
    };
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        // The last line, complete: a header whose rows have not come yet (for `open`).
        const bool last = open != nullptr && i + 2 == lines.size() && lines[i + 1].begin == text.size();
        for (const char delimiter : {',', ';', '\t', '|'}) {
            const auto n = count(lines[i], delimiter);
            if (n == 0 || (count(lines[i + 1], delimiter) != n && !last)) continue;
            const auto header = cells(lines[i], delimiter);
            std::vector<std::pair<std::size_t, std::uint32_t>> masked;  // column index, rule
            for (std::size_t c = 0; c < header.size(); ++c) {
                const auto cell = trimmed(header[c]);
                const auto name = lowerCopy(text.substr(cell.begin, cell.end - cell.begin));
                for (std::size_t r = 0; r < columnsLower_.size(); ++r) {
                    if (name == columnsLower_[r]) masked.emplace_back(c, static_cast<std::uint32_t>(r));
                }
            }
            if (masked.empty()) continue;
            if (last) {
                *open = OpenTable{lines[i].begin, lines[i].end, text.size()};
                break;
            }
            std::size_t k = i + 1;
            for (; k < lines.size() && count(lines[k], delimiter) == n; ++k) {
                if (out == nullptr) continue;
                const auto row = cells(lines[k], delimiter);
                for (const auto& [column, rule] : masked) {
                    if (column >= row.size()) continue;
                    const auto cell = trimmed(row[column]);
                    if (cell.end > cell.begin) {
                        out->push_back({cell.begin, cell.end, static_cast<std::uint32_t>(detectors_.size() + rule)});
                    }
                }
            }
            // Open: its rows run up to the last line break (the empty line after it is the end).
            if (open != nullptr && k + 1 == lines.size() && lines[k].begin == text.size()) {
                *open = OpenTable{lines[i].begin, lines[i].end, lines[k - 1].begin};
            }
            i = k - 1;
            break;
        }
    }
}

void Profile::replace(std::string_view entity, std::string_view value, std::string_view hashKey, std::string& out,
                      const Detector* detector) const {
    const auto it = spec_.operators.find(entity);
    const auto& op = it != spec_.operators.end() ? it->second : spec_.defaultOperator;
    switch (op.kind) {
    case OperatorSpec::Kind::KeepLast: {
        std::string kept;
        std::size_t alnum = 0;
        for (const char c : value) alnum += isAlnum(c) ? 1 : 0;
        // Keeping part of a short value would give it away.
        if (op.keep > 0 && alnum >= static_cast<std::size_t>(op.keep) * 2) {
            for (auto r = value.rbegin(); r != value.rend() && kept.size() < static_cast<std::size_t>(op.keep); ++r) {
                if (isAlnum(*r)) kept.insert(kept.begin(), *r);
            }
            out += "****";
            out += kept;
            return;
        }
        break;
    }
    case OperatorSpec::Kind::Hash: {
        const std::string normalized = detector != nullptr && detector->normalize != nullptr
                                           ? detector->normalize(value)
                                           : std::string(value);
        std::string message(entity);
        message += ':';
        message += normalized;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int macLength = 0;
        HMAC(EVP_sha256(), hashKey.data(), static_cast<int>(hashKey.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &macLength);
        out += '[';
        out += entity;
        out += ':';
        out += crypto::toHex(std::string_view(reinterpret_cast<const char*>(mac), 8));
        out += ']';
        return;
    }
    case OperatorSpec::Kind::Redact: break;
    }
    out += '[';
    out += entity;
    out += ']';
}

std::size_t Profile::applySpans(std::string_view text, std::size_t from, std::size_t to, const std::vector<Span>& spans,
                                std::string& out, std::string_view hashKey, Summary* summary,
                                std::string_view where) const {
    std::size_t at = from, masked = 0;
    for (const auto& span : spans) {
        if (span.begin < from || span.end > to) continue;
        out.append(text.substr(at, span.begin - at));
        const auto entity = entityOf(span);
        const auto* detector = span.source < detectors_.size() ? &detectors_[span.source] : nullptr;
        if (span.encoded) {
            // The replacement is worked out from the decoded value (a hash equals the one of
            // the value written plainly) and written back encoded, as the text around it is.
            std::string decoded, replacement;
            std::vector<std::size_t> origin;
            percentDecode(text.substr(span.begin, span.end - span.begin), decoded, origin);
            replace(entity, decoded, hashKey, replacement, detector);
            appendPercentEncoded(out, replacement);
        } else {
            replace(entity, text.substr(span.begin, span.end - span.begin), hashKey, out, detector);
        }
        if (summary != nullptr) summary->add(entity, where);
        at = span.end;
        ++masked;
    }
    out.append(text.substr(at, to - at));
    return masked;
}

std::size_t Profile::maskText(std::string_view text, std::string& out, std::string_view hashKey, Summary* summary,
                              std::string_view where) const {
    thread_local std::vector<Span> spans;
    find(text, spans);
    if (spans.empty()) {
        out.append(text);
        return 0;
    }
    return applySpans(text, 0, text.size(), spans, out, hashKey, summary, where);
}

std::size_t Profile::holdBack(std::string_view text) const {
    std::uint64_t alive = detectors_.size() >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << detectors_.size()) - 1;
    std::size_t hold = 0;
    const std::size_t limit = std::min(text.size(), maxHold_);
    std::size_t k = 0;
    for (; k < limit && alive != 0; ++k) {
        const auto c = static_cast<unsigned char>(text[text.size() - 1 - k]);
        const auto still = alive & holdMask_[c];
        for (auto died = alive & ~still; died != 0; died &= died - 1) {
            const auto d = static_cast<std::size_t>(__builtin_ctzll(died));
            hold = std::max(hold, std::min(k, detectors_[d].holdWidth));
        }
        alive = still;
    }
    for (; alive != 0; alive &= alive - 1) {
        const auto d = static_cast<std::size_t>(__builtin_ctzll(alive));
        hold = std::max(hold, std::min(k, detectors_[d].holdWidth));
    }
    // Detectors past the 64th are not tracked byte by byte: hold their full width.
    for (std::size_t d = 64; d < detectors_.size(); ++d) hold = std::max(hold, std::min(text.size(), detectors_[d].holdWidth));
    if (!columnsLower_.empty()) {
        // A CSV row is decided once it is complete: hold the unfinished last line.
        const auto newline = text.rfind('\n');
        const auto line = newline == std::string_view::npos ? text.size() : text.size() - newline - 1;
        hold = std::max(hold, std::min(line, maxHold_));
    }
    return hold;
}

void Summary::add(std::string_view entity, std::string_view where, std::uint64_t count) {
    for (auto& e : entries_) {
        if (e.entity == entity && e.where == where) {
            e.count += count;
            return;
        }
    }
    entries_.push_back({std::string(entity), std::string(where), count});
}

std::uint64_t Summary::total() const {
    std::uint64_t n = 0;
    for (const auto& e : entries_) n += e.count;
    return n;
}

std::uint64_t Summary::count(std::string_view entity) const {
    std::uint64_t n = 0;
    for (const auto& e : entries_) n += e.entity == entity ? e.count : 0;
    return n;
}

std::string Summary::toJson() const {
    std::string out = "[";
    for (const auto& e : entries_) {
        if (out.size() > 1) out += ',';
        out += "{\"entity\":";
        appendJsonString(out, e.entity);
        out += ",\"where\":";
        appendJsonString(out, e.where);
        out += ",\"count\":";
        out += std::to_string(e.count);
        out += '}';
    }
    out += ']';
    return out;
}

bool checkCustomRegex(const std::string& regex, bool caseless, std::string& error) {
    return customRegexWidth(regex, caseless, error).has_value();
}

std::string loadOrCreateHashKey(const std::string& file, std::string& error) {
    auto decode = [](std::string_view hex, std::string& key) {
        key.clear();
        auto nibble = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        if (hex.size() % 2 != 0) return false;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
            if (hi < 0 || lo < 0) return false;
            key += static_cast<char>(hi * 16 + lo);
        }
        return key.size() >= 32;
    };
    std::ifstream in(file);
    if (in) {
        std::stringstream buffer;
        buffer << in.rdbuf();
        auto text = buffer.str();
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
        std::string key;
        if (!decode(text, key)) {
            error = file + ": a masking key is at least 64 hex digits (32 bytes) on one line";
            return {};
        }
        return key;
    }
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        error = "cannot draw random bytes for the masking key";
        return {};
    }
    const std::string key(reinterpret_cast<const char*>(bytes), sizeof bytes);
    const auto hex = crypto::toHex(key) + "\n";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, hex.data(), hex.size()) != static_cast<ssize_t>(hex.size()) || ::fsync(fd) != 0) {
        error = "cannot create the masking key " + file + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return {};
    }
    ::close(fd);
    return key;
}

}  // namespace vigil::mask
