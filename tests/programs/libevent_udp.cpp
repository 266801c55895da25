// A UDP server written on libevent, and its client, for the programs tests: the server
// answers on three sockets, each registered the way libevent programs commonly do:
//   port P     EV_READ|EV_PERSIST, one datagram a callback (level triggering must call
//              again while datagrams wait: memcached's pattern)
//   port P+1   EV_READ|EV_PERSIST|EV_ET, the callback drains to EAGAIN (edge triggering)
//   port P+2   EV_READ without EV_PERSIST, added again in each callback (libevent then
//              deletes and re-adds, or modifies, the descriptor's epoll registration)
// plus a persistent 20 ms timer, so that the loop's timeouts run alongside.
//   libevent_udp server ADDR PORT BACKEND   (BACKEND: epoll, poll or select)
//   libevent_udp client ADDR PORT
// The client sends bursts of three datagrams to each port and prints the replies in order
// of arrival, then "fast" if every burst was answered within 250 ms, else "slow".
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int udp_socket(const char* addr, int port) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr, &a.sin_addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("bind");
        std::exit(1);
    }
    return fd;
}

// Answers one datagram with "<tag> <payload>"; false when none waits.
bool answer(int fd, const char* tag) {
    char buf[512];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf - 1, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) return false;
    buf[n] = 0;
    const std::string reply = std::string(tag) + " " + buf;
    sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
    return true;
}

void on_level(evutil_socket_t fd, short, void*) { answer(fd, "level"); }

void on_edge(evutil_socket_t fd, short, void*) {
    while (answer(fd, "edge")) {
    }
}

void on_oneshot(evutil_socket_t fd, short, void* self) {
    answer(fd, "oneshot");
    event_add(static_cast<event*>(self), nullptr);
}

void on_tick(evutil_socket_t, short, void*) {}

int server(const char* addr, int port, const char* backend) {
    event_config* cfg = event_config_new();
    for (const char* m : {"epoll", "poll", "select"})
        if (std::strcmp(m, backend) != 0) event_config_avoid_method(cfg, m);
    event_base* base = event_base_new_with_config(cfg);
    if (!base || std::strcmp(event_base_get_method(base), backend) != 0) {
        std::fprintf(stderr, "libevent has no %s backend here\n", backend);
        return 1;
    }
    std::fprintf(stderr, "libevent %s, backend %s\n", event_get_version(), event_base_get_method(base));
    const int a = udp_socket(addr, port), b = udp_socket(addr, port + 1), c = udp_socket(addr, port + 2);
    event* level = event_new(base, a, EV_READ | EV_PERSIST, on_level, nullptr);
    event* edge = event_new(base, b, EV_READ | EV_PERSIST | EV_ET, on_edge, nullptr);
    event* oneshot = event_new(base, c, EV_READ, on_oneshot, event_self_cbarg());
    event* tick = event_new(base, -1, EV_PERSIST, on_tick, nullptr);
    const timeval every{0, 20 * 1000};
    event_add(level, nullptr);
    event_add(edge, nullptr);
    event_add(oneshot, nullptr);
    event_add(tick, &every);
    event_base_dispatch(base);  // until killed
    return 0;
}

int client(const char* addr, int port) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    double slowest = 0;
    bool lost = false;
    for (int burst = 0; burst < 4; ++burst) {
        for (int off = 0; off < 3; ++off) {
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = htons(static_cast<uint16_t>(port + off));
            inet_pton(AF_INET, addr, &to.sin_addr);
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < 3; ++i) {
                const std::string msg = "b" + std::to_string(burst) + "-" + std::to_string(i);
                sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
            }
            for (int i = 0; i < 3; ++i) {
                pollfd p{fd, POLLIN, 0};
                if (poll(&p, 1, 2000) != 1) {
                    std::printf("port +%d: no reply\n", off);
                    lost = true;
                    break;
                }
                char buf[512];
                const ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
                if (n < 0) return 1;
                buf[n] = 0;
                std::printf("%s\n", buf);
            }
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
            if (took.count() > slowest) slowest = took.count();
        }
    }
    std::printf("%s\n", lost ? "lost" : slowest > 0.25 ? "slow" : "fast");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::strcmp(argv[1], "server") == 0) return server(argv[2], std::atoi(argv[3]), argv[4]);
    if (argc == 4 && std::strcmp(argv[1], "client") == 0) return client(argv[2], std::atoi(argv[3]));
    std::fprintf(stderr, "usage: libevent_udp server ADDR PORT epoll|poll|select | client ADDR PORT\n");
    return 2;
}
