#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace ferry::testing {
namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

TcpProxy::TcpProxy(uint16_t target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address = Loopback(0);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0) {
    throw std::runtime_error("tcp proxy: cannot listen on loopback");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& pump : pumps_) pump.join();
}

void TcpProxy::CutNextConnectionAfter(uint64_t bytes) {
  cut_after_ = static_cast<int64_t>(bytes);
}

void TcpProxy::SetDown(bool down) {
  down_ = down;
  if (!down) return;
  std::lock_guard lock(mutex_);
  for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
}

void TcpProxy::AcceptLoop() {
  while (!stopping_) {
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    if (down_) {
      ::close(client);
      continue;
    }
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in target = Loopback(target_port_);
    if (::connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
      ::close(upstream);
      ::close(client);
      continue;
    }
    std::lock_guard lock(mutex_);
    open_fds_.push_back(client);
    open_fds_.push_back(upstream);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpProxy::Pump(int client, int upstream) {
  // Each connection decides once whether it is the one to cut, when the relay's bytes first
  // pass the threshold: the check-in before a download on the same connection does not count.
  uint64_t downstream_bytes = 0;
  std::array<char, 64 * 1024> buffer;
  std::array<pollfd, 2> fds{pollfd{client, POLLIN, 0}, pollfd{upstream, POLLIN, 0}};
  bool open = true;
  while (open && !stopping_ && !down_) {
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
    for (size_t i = 0; i < fds.size() && open; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = fds[i].fd;
      const int to = i == 0 ? upstream : client;
      ssize_t got = ::read(from, buffer.data(), buffer.size());
      if (got <= 0) {
        open = false;
        break;
      }
      size_t forward = static_cast<size_t>(got);
      if (from == upstream) {
        const int64_t limit = cut_after_.load();
        if (limit >= 0 && downstream_bytes + forward > static_cast<uint64_t>(limit)) {
          int64_t expected = limit;
          if (cut_after_.compare_exchange_strong(expected, -1)) {
            forward = static_cast<size_t>(static_cast<uint64_t>(limit) - downstream_bytes);
            open = false;
            ++cuts_;
          }
        }
        downstream_bytes += forward;
      }
      size_t sent = 0;
      while (sent < forward) {
        const ssize_t wrote = ::write(to, buffer.data() + sent, forward - sent);
        if (wrote <= 0) {
          open = false;
          break;
        }
        sent += static_cast<size_t>(wrote);
      }
    }
  }
  std::lock_guard lock(mutex_);
  for (int fd : {client, upstream}) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  }
}

}  // namespace ferry::testing
