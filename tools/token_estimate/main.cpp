// vigil-token-estimate: prints the gateway's prompt-token estimate for each line of a JSON
// Lines file ({"text": "..."} per line), one number per line. Used by compare.mjs to
// measure the estimator against a real tokenizer (docs/token-estimate.md).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "inspect/request_facts.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: vigil-token-estimate FILE.jsonl\n");
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "vigil-token-estimate: cannot read %s\n", argv[1]);
        return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto doc = nlohmann::json::parse(line, nullptr, false);
        if (!doc.is_object() || !doc.contains("text") || !doc["text"].is_string()) {
            std::fprintf(stderr, "vigil-token-estimate: a line is not {\"text\": ...}\n");
            return 1;
        }
        std::cout << vigil::inspect::estimateTokens(doc["text"].get<std::string>()) << '\n';
    }
    return 0;
}
