#include "record/chain.h"

#include "crypto/digest.h"

namespace vigil::record {
namespace {

void putU64(char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> ((7 - i) * 8)) & 0xFF);
}

void appendU64(std::string& out, std::uint64_t v) {
    char bytes[8];
    putU64(bytes, v);
    out.append(bytes, 8);
}

void putU32(char* out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> ((3 - i) * 8)) & 0xFF);
}

// A field: its length (4 bytes, big-endian), then its bytes.
void hashField(crypto::Sha256& digest, std::string_view field) {
    char length[4];
    putU32(length, static_cast<std::uint32_t>(field.size()));
    digest.update({length, 4}).update(field);
}

}  // namespace

std::string genesisHash() { return std::string(32, '\0'); }

std::string eventHash(std::string_view prevHash, const Event& event) {
    // The canonical encoding (docs/recording.md), fed to the digest piece by piece: the
    // payload is not copied. One digest context per thread, reused.
    thread_local crypto::Sha256 digest;
    char numbers[16];
    putU64(numbers, static_cast<std::uint64_t>(event.seq));
    putU64(numbers + 8, static_cast<std::uint64_t>(event.timeMicros));
    digest.update("vigil.event.v1").update(prevHash).update({numbers, 16});
    hashField(digest, event.sessionId);
    hashField(digest, event.type);
    hashField(digest, event.payload);
    return digest.finish();
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
