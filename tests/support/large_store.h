#pragma once

#include <QString>

namespace vigil::test {

// Records `sessions` sessions of about `bytes` of request body each into the SQLite store at
// `dbPath` (one `request.received` event apiece, by apikey:alice, now), signed with the key at
// `keyPath` (created when missing): a period's worth of evidence without sending the traffic.
// False when the recorder could not commit them.
bool recordLargeSessions(const QString& dbPath, const QString& keyPath, int sessions, int bytes);

// The peak resident memory of this process since the last resetPeakMemory(), in KiB
// (VmHWM), or -1 when /proc does not tell.
long long peakMemoryKb();
// Starts the peak over from the present resident memory (/proc/self/clear_refs); false when
// the kernel does not allow it.
bool resetPeakMemory();

}  // namespace vigil::test
