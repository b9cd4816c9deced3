#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/jsonc.h"
#include "policy/policy.h"

namespace vigil::policy {

struct PolicyIssue {
    config::SourcePosition position;  // line 0: the file as a whole (cannot be read)
    std::string message;              // "rules[2].action: must be one of allow, deny, review"
};

struct LoadResult {
    std::shared_ptr<const Policy> policy;  // null when there are issues
    std::vector<PolicyIssue> issues;       // every problem found, in file order
};

// Parses, validates and compiles a policy (JSON with comments; see docs/policy.md).
// Never throws; all problems are returned with their line and column.
LoadResult loadPolicyText(std::string_view text, const std::filesystem::path& file);
LoadResult loadPolicyFile(const std::filesystem::path& file);

// "file:line:column: message", as compilers print, so editors can jump to it.
std::string formatIssue(const std::filesystem::path& file, const PolicyIssue& issue);

// "sha256:<hex>" of the bytes.
std::string policyVersionOf(std::string_view bytes);

}  // namespace vigil::policy
