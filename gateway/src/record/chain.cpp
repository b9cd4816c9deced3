#include "record/chain.h"

#include "crypto/digest.h"

namespace vigil::record {
namespace {

void appendU64(std::string& out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (i * 8)) & 0xFF);
}

void appendField(std::string& out, std::string_view field) {
    const auto n = static_cast<std::uint32_t>(field.size());
    for (int i = 3; i >= 0; --i) out += static_cast<char>((n >> (i * 8)) & 0xFF);
    out.append(field);
}

}  // namespace

std::string genesisHash() { return std::string(32, '\0'); }

std::string eventHash(std::string_view prevHash, const Event& event) {
    std::string encoded;
    encoded.reserve(96 + event.sessionId.size() + event.type.size() + event.payload.size());
    encoded += "vigil.event.v1";
    encoded.append(prevHash);
    appendU64(encoded, static_cast<std::uint64_t>(event.seq));
    appendU64(encoded, static_cast<std::uint64_t>(event.timeMicros));
    appendField(encoded, event.sessionId);
    appendField(encoded, event.type);
    appendField(encoded, event.payload);
    return crypto::sha256(encoded);
}

std::string checkpointMessage(const Checkpoint& checkpoint) {
    std::string message = "vigil.checkpoint.v1";
    appendU64(message, static_cast<std::uint64_t>(checkpoint.seq));
    message += checkpoint.headHash;
    appendU64(message, static_cast<std::uint64_t>(checkpoint.timeMicros));
    return message;
}

std::string toHex(std::string_view bytes) { return crypto::toHex(bytes); }

}  // namespace vigil::record
