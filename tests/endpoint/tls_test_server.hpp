#pragma once

// A TLS server for the agent's tests, scripted request by request: real OpenSSL on a loopback
// socket, one connection at a time, each request answered with the exact bytes a handler returns
// (or cut short, or delayed), so tests can play a relay that misbehaves in precise ways.
// Header-only: the suite's CMake glob compiles *_test.cpp files only.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::endpoint::test_server {

using std::chrono::milliseconds;

struct Seen {
  std::string head;
  std::string body;
  bool client_certificate = false;  // presented and verified against the server's client CA
};

struct Reply {
  std::string bytes;
  bool close = false;                    // close (with close_notify) after sending
  size_t cut_after = std::string::npos;  // send this many bytes, then drop the TCP connection
  milliseconds delay{0};                 // wait before answering
};

inline std::string Http(int status, const std::string& body, const std::string& headers = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
}

// "Range: bytes=N-" of a request head, or -1.
inline int64_t RangeStart(const std::string& head) {
  const size_t at = head.find("\r\nRange: bytes=");
  if (at == std::string::npos) return -1;
  return std::stoll(head.substr(at + 15));
}

// One connection at a time, requests answered in order by `handler`.
class TlsTestServer {
 public:
  TlsTestServer(const std::string& chain, const std::string& key, const std::string& client_ca,
                std::function<Reply(const Seen&)> handler)
      : handler_(std::move(handler)) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx_, chain.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      ADD_FAILURE() << "test server: cannot load " << chain;
    }
    if (!client_ca.empty()) {
      SSL_CTX_load_verify_locations(ctx_, client_ca.c_str(), nullptr);
      // Asked for, not required: as the relay does before enrolment.
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    }
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "test server: cannot listen";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~TlsTestServer() {
    stop_ = true;
    if (const int fd = current_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    SSL_CTX_free(ctx_);
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void Serve() {
    // A client that hangs up mid-answer must cost this thread an EPIPE, not the process a
    // SIGPIPE; blocked here, the signal stays with this thread and dies with it.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stop_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      current_fd_ = fd;
      timeval timeout{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        Converse(ssl, fd);
      }
      ERR_clear_error();
      SSL_free(ssl);
      current_fd_ = -1;
      ::close(fd);
    }
  }

  void Converse(SSL* ssl, int fd) {
    std::string buffer;
    while (!stop_) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(ssl, buffer)) return;
      }
      Seen seen;
      seen.head = buffer.substr(0, end + 4);
      buffer.erase(0, end + 4);
      size_t length = 0;
      if (const size_t at = seen.head.find("Content-Length: "); at != std::string::npos) {
        length = std::stoul(seen.head.substr(at + 16));
      }
      while (buffer.size() < length) {
        if (!ReadMore(ssl, buffer)) return;
      }
      seen.body = buffer.substr(0, length);
      buffer.erase(0, length);
      seen.client_certificate =
          SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK;
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(seen);
      }
      const Reply reply = handler_(seen);
      std::this_thread::sleep_for(reply.delay);
      const size_t send = std::min(reply.cut_after, reply.bytes.size());
      if (send > 0 && SSL_write(ssl, reply.bytes.data(), static_cast<int>(send)) <= 0) return;
      if (reply.cut_after != std::string::npos) {
        ::shutdown(fd, SHUT_RDWR);  // no close_notify: a dropped connection
        return;
      }
      if (reply.close) {
        SSL_shutdown(ssl);
        return;
      }
    }
  }

  static bool ReadMore(SSL* ssl, std::string& buffer) {
    char chunk[16384];
    const int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  std::function<Reply(const Seen&)> handler_;
  SSL_CTX* ctx_ = nullptr;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> current_fd_{-1};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

}  // namespace ferry::endpoint::test_server
