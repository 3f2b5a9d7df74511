#pragma once

// A loopback TCP forwarder that end-to-end tests put between the agent and the relay to break
// the network on purpose: cut a connection in the middle of a download, or refuse everything
// while the relay is "away". It forwards bytes blindly, so TLS runs end to end through it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry::testing {

class TcpProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards every connection to 127.0.0.1:target_port.
  explicit TcpProxy(uint16_t target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }

  // The next connection that carries more than `bytes` from the relay to the client is closed
  // right after that many bytes; connections after it are forwarded whole again.
  void CutNextConnectionAfter(uint64_t bytes);

  // While down, open connections are closed and new ones are accepted and closed at once, as a
  // relay that went away looks to its clients.
  void SetDown(bool down);

  // Connections cut by CutNextConnectionAfter so far.
  int cuts() const { return cuts_.load(); }

 private:
  void AcceptLoop();
  void Pump(int client, int upstream);

  uint16_t target_port_;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> down_{false};
  std::atomic<int64_t> cut_after_{-1};
  std::atomic<int> cuts_{0};
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace ferry::testing
