#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::scan {

struct PatternSpec {
    std::string expression;  // PCRE-style syntax without backreferences or lookaround
    bool caseless = false;
};

struct PatternError {
    std::size_t index;    // into the specs given to compile()
    std::string message;  // from the engine: "Unsupported component at index 3."
};

// Many regular expressions compiled once into one Vectorscan (Hyperscan) database and
// matched together in one linear-time pass over the text. Immutable after compile() and
// shared by every thread; each thread scans with its own scratch space.
class PatternSet {
public:
    PatternSet();
    ~PatternSet();
    PatternSet(PatternSet&&) noexcept;
    PatternSet& operator=(PatternSet&&) noexcept;

    // Compiles every spec; on failure returns false with one error per bad expression
    // (all of them, not only the first).
    bool compile(const std::vector<PatternSpec>& specs, std::vector<PatternError>& errors);

    bool empty() const { return database_ == nullptr; }
    std::size_t size() const { return count_; }

    // Calls onMatch(index, endOffset) once for each expression that matches `text`, with
    // the end of its first match. Returns false if the engine failed (out of memory).
    using MatchCallback = void (*)(void* context, std::size_t index, std::size_t endOffset);
    bool scan(std::string_view text, MatchCallback onMatch, void* context) const;

    template <class F>
    bool scan(std::string_view text, F&& onMatch) const {
        return scan(
            text,
            [](void* context, std::size_t index, std::size_t end) { (*static_cast<F*>(context))(index, end); },
            &onMatch);
    }

    // Escapes every regex metacharacter of `literal`.
    static std::string escape(std::string_view literal);
    // The engine's version and build, as libhs reports it ("5.4.0 2023-01-13").
    static std::string engineVersion();

private:
    struct Database;
    Database* database_ = nullptr;
    std::size_t count_ = 0;
    std::uint64_t generation_ = 0;  // identifies the database to the per-thread scratch cache
};

}  // namespace vigil::scan
