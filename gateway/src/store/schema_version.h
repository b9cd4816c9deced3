#pragma once

namespace vigil::store {

// The SQLite store's schema version (PRAGMA user_version) this build writes, and the first
// one that holds the recording (events, checkpoints, signing_keys), whose tables have not
// changed since. The verifier reads these versions only.
inline constexpr int kSchemaVersion = 9;
inline constexpr int kFirstRecordingSchemaVersion = 3;

}  // namespace vigil::store
