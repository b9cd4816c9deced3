#include "raw_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QList>
#include <QString>

namespace vigil::test {

RawUpstream::RawUpstream(Answer answer) : answer_(std::move(answer)) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        if (fd >= 0) ::close(fd);
        return;
    }
    listenFd_ = fd;
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
}

RawUpstream::~RawUpstream() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : connections_) t.join();
    if (listenFd_ >= 0) ::close(listenFd_);
}

QString RawUpstream::url() const { return QStringLiteral("http://127.0.0.1:%1").arg(port_); }

void RawUpstream::acceptLoop() {
    while (!stop_) {
        pollfd p{listenFd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mutex_);
        connections_.emplace_back([this, fd] { serve(fd); });
    }
}

void RawUpstream::serve(int fd) {
    QByteArray buffer;
    auto fill = [&]() {  // false: closed, or stopping
        while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char chunk[16384];
            const auto n = ::recv(fd, chunk, sizeof(chunk), 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<int>(n));
            return true;
        }
        return false;
    };
    for (int nth = 1;; ++nth) {
        qsizetype end = -1;
        while ((end = buffer.indexOf("\r\n\r\n")) < 0) {
            if (!fill()) {
                ::close(fd);
                return;
            }
        }
        qsizetype bodyLength = 0;
        for (const auto& line : buffer.left(end).split('\n')) {
            if (line.toLower().startsWith("content-length:")) bodyLength = line.mid(15).trimmed().toLongLong();
        }
        while (buffer.size() < end + 4 + bodyLength) {
            if (!fill()) {
                ::close(fd);
                return;
            }
        }
        const QByteArray request = buffer.left(end + 4 + bodyLength);
        buffer.remove(0, request.size());
        ++requests_;
        const auto reply = answer_(nth, request);
        if (reply.delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(reply.delayMs));
        for (qsizetype sent = 0; sent < reply.bytes.size();) {
            const auto n = ::send(fd, reply.bytes.constData() + sent, static_cast<size_t>(reply.bytes.size() - sent), MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += n;
        }
        if (reply.then == Then::Reset) {
            linger abort{1, 0};  // close with RST
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
        }
        if (reply.then != Then::KeepOpen) {
            ::close(fd);
            return;
        }
    }
}

}  // namespace vigil::test
