#include "scan/pattern_set.h"

#include <atomic>
#include <utility>

#include <hs/hs.h>

namespace vigil::scan {
namespace {

std::atomic<std::uint64_t> nextGeneration{1};

unsigned flagsFor(const PatternSpec& spec) {
    // SINGLEMATCH: one report per expression is all the callers need, and it lets the
    // engine stop tracking an expression once it matched.
    // UTF8 without UCP: \b, \w, \s and \d are ASCII classes (Vectorscan has no \b in UCP
    // mode); caseless matching still folds the case of non-ASCII letters.
    unsigned flags = HS_FLAG_SINGLEMATCH | HS_FLAG_UTF8;
    if (spec.caseless) flags |= HS_FLAG_CASELESS;
    return flags;
}

// One scratch space per thread, grown to fit every database the thread scans with.
struct ThreadScratch {
    hs_scratch_t* scratch = nullptr;
    std::vector<std::uint64_t> fitted;  // generations the scratch was allocated for
    ~ThreadScratch() {
        if (scratch != nullptr) hs_free_scratch(scratch);
    }
};

}  // namespace

struct PatternSet::Database {
    hs_database_t* db = nullptr;
    ~Database() {
        if (db != nullptr) hs_free_database(db);
    }
};

PatternSet::PatternSet() = default;
PatternSet::~PatternSet() { delete database_; }
PatternSet::PatternSet(PatternSet&& other) noexcept
    : database_(std::exchange(other.database_, nullptr)),
      count_(std::exchange(other.count_, 0)),
      generation_(std::exchange(other.generation_, 0)) {}
PatternSet& PatternSet::operator=(PatternSet&& other) noexcept {
    if (this != &other) {
        delete database_;
        database_ = std::exchange(other.database_, nullptr);
        count_ = std::exchange(other.count_, 0);
        generation_ = std::exchange(other.generation_, 0);
    }
    return *this;
}

bool PatternSet::compile(const std::vector<PatternSpec>& specs, std::vector<PatternError>& errors) {
    const auto errorsBefore = errors.size();
    // Each expression alone first: the engine reports only the first bad expression of a
    // set, and the people who write policy want all of them.
    for (std::size_t i = 0; i < specs.size(); ++i) {
        hs_database_t* single = nullptr;
        hs_compile_error_t* error = nullptr;
        if (hs_compile(specs[i].expression.c_str(), flagsFor(specs[i]), HS_MODE_BLOCK, nullptr, &single, &error) !=
            HS_SUCCESS) {
            errors.push_back({i, error != nullptr ? error->message : "cannot compile"});
            hs_free_compile_error(error);
        } else {
            hs_free_database(single);
        }
    }
    if (errors.size() != errorsBefore) return false;
    delete database_;
    database_ = nullptr;
    count_ = specs.size();
    if (specs.empty()) return true;

    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        expressions.push_back(specs[i].expression.c_str());
        flags.push_back(flagsFor(specs[i]));
        ids.push_back(static_cast<unsigned>(i));
    }
    auto database = std::make_unique<Database>();
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(specs.size()),
                         HS_MODE_BLOCK, nullptr, &database->db, &error) != HS_SUCCESS) {
        const auto index = error != nullptr && error->expression >= 0 ? static_cast<std::size_t>(error->expression) : 0;
        errors.push_back({index, error != nullptr ? error->message : "cannot compile the pattern set"});
        hs_free_compile_error(error);
        return false;
    }
    database_ = database.release();
    generation_ = nextGeneration.fetch_add(1);
    return true;
}

bool PatternSet::scan(std::string_view text, MatchCallback onMatch, void* context) const {
    if (database_ == nullptr) return true;
    thread_local ThreadScratch local;
    bool fitted = false;
    for (const auto g : local.fitted) fitted = fitted || g == generation_;
    if (!fitted) {
        if (hs_alloc_scratch(database_->db, &local.scratch) != HS_SUCCESS) return false;
        // Bounded: databases are few (one per loaded policy); forget old ones.
        if (local.fitted.size() >= 16) local.fitted.erase(local.fitted.begin());
        local.fitted.push_back(generation_);
    }
    struct Relay {
        MatchCallback onMatch;
        void* context;
    } relay{onMatch, context};
    const auto status = hs_scan(
        database_->db, text.data(), static_cast<unsigned>(text.size()), 0, local.scratch,
        [](unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) -> int {
            auto* r = static_cast<Relay*>(ctx);
            r->onMatch(r->context, id, static_cast<std::size_t>(to));
            return 0;
        },
        &relay);
    return status == HS_SUCCESS;
}

std::string PatternSet::engineVersion() {
    std::string version = hs_version();
    while (!version.empty() && version.back() == ' ') version.pop_back();
    return version;
}

std::string PatternSet::escape(std::string_view literal) {
    std::string out;
    for (const char c : literal) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u >= 0x80 || c == ' ' ||
            c == '_') {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        }
    }
    return out;
}

}  // namespace vigil::scan
