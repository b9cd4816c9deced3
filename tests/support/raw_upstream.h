#pragma once

#include <QByteArray>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vigil::test {

// An upstream written byte by byte, for the answers a well-behaved server (the mock) never
// gives: interim responses, a close without an answer, a reset after the request was read.
// Each connection gets a thread; each request on it is read whole (Content-Length) and
// answered as `answer` says.
class RawUpstream {
public:
    enum class Then { KeepOpen, Close, Reset };
    struct Reply {
        QByteArray bytes;  // sent first (may be empty)
        Then then = Then::KeepOpen;
        int delayMs = 0;   // before sending, as if working on it
    };
    // `nth`: 1 for the first request on its connection.
    using Answer = std::function<Reply(int nth, const QByteArray& request)>;

    explicit RawUpstream(Answer answer);
    ~RawUpstream();
    RawUpstream(const RawUpstream&) = delete;
    RawUpstream& operator=(const RawUpstream&) = delete;

    bool listening() const { return listenFd_ >= 0; }
    QString url() const;
    int requests() const { return requests_.load(); }  // read whole, over all connections

private:
    void acceptLoop();
    void serve(int fd);

    Answer answer_;
    int listenFd_ = -1;
    quint16 port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<std::thread> connections_;
};

}  // namespace vigil::test
