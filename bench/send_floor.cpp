// The floor under any MQTT client's CPU per QoS 0 message on loopback: N plain TCP connections that
// send pre-encoded PUBLISH packets, one send(2) per message, from one thread that wakes every --tick.
// No MQTT state, no timers per thing, no allocation: what is left is the kernel's cost of a small TCP
// send into loopback (which runs the broker's receive path in the sender's context) plus the wake-ups.
// bench/run-bench (workload g) runs it beside fleetsim and Paho on the same mosquitto.
//
//   send_floor --port P [--things 1000] [--rate 10] [--seconds 20] [--payload 200] [--tick-ms 1]
// Prints one JSON line: messages sent and CPU seconds (user, sys) spent after every thing connected.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string remaining_length(std::size_t n) {
  std::string out;
  do {
    unsigned char b = n % 128;
    n /= 128;
    if (n) b |= 0x80;
    out += static_cast<char>(b);
  } while (n);
  return out;
}

std::string utf8_field(const std::string& s) {
  return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} + s;
}

std::string connect_packet(const std::string& client_id) {
  std::string body = utf8_field("MQTT") + std::string{4, 0x02, 0x01, 0x2c} + utf8_field(client_id);  // clean, 300 s
  return std::string(1, '\x10') + remaining_length(body.size()) + body;
}

std::string publish_packet(const std::string& topic, std::size_t payload) {
  std::string body = utf8_field(topic) + std::string(payload, 'x');
  return std::string(1, '\x30') + remaining_length(body.size()) + body;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, things = 1000, seconds = 20, tick_ms = 1;
  double rate = 10;
  std::size_t payload = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = std::atoi(argv[i + 1]);
    else if (a == "--things") things = std::atoi(argv[i + 1]);
    else if (a == "--rate") rate = std::atof(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atoi(argv[i + 1]);
    else if (a == "--payload") payload = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--tick-ms") tick_ms = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "send_floor: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (port <= 0 || things <= 0 || rate <= 0 || tick_ms <= 0) {
    std::fprintf(stderr, "send_floor: --port is required; counts and rates must be positive\n");
    return 2;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  std::vector<std::string> packets;
  for (int i = 0; i < things; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      std::perror("send_floor: connect");
      return 3;
    }
    std::string c = connect_packet("floor-" + std::to_string(i));
    char connack[4];
    if (::send(fd, c.data(), c.size(), 0) != ssize_t(c.size()) || ::recv(fd, connack, 4, MSG_WAITALL) != 4 ||
        connack[3] != 0) {
      std::fprintf(stderr, "send_floor: CONNECT %d refused\n", i);
      return 3;
    }
    fds.push_back(fd);
    packets.push_back(publish_packet("bench/floor-" + std::to_string(i), payload));
  }
  // Every thing sends `rate` messages per second, spread evenly: thing i is due at (k + i/things)/rate.
  const double start_cpu = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> sent(things, 0);
  std::uint64_t total = 0, failed = 0;
  for (;;) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (t >= seconds) break;
    for (int i = 0; i < things; ++i) {
      const double due = (double(sent[i]) + double(i) / things) / rate;
      if (due > t) continue;
      if (::send(fds[i], packets[i].data(), packets[i].size(), MSG_DONTWAIT) == ssize_t(packets[i].size())) ++total;
      else ++failed;
      ++sent[i];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tick_ms));
  }
  const double cpu = cpu_seconds() - start_cpu;
  std::printf("{\"messages\": %llu, \"failed\": %llu, \"cpu_seconds\": %.4f, \"cpu_us_per_message\": %.3f}\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(failed), cpu,
              total ? cpu * 1e6 / double(total) : 0.0);
  for (int fd : fds) ::close(fd);
  return 0;
}
