#pragma once

#include <QString>

namespace vigil::test {

// A throwaway CA and a server certificate for localhost and 127.0.0.1, made with the
// openssl command line in `dir`: ca.crt, server.crt, server.key. False on failure.
bool makeTestPki(const QString& dir);

}  // namespace vigil::test
