// The seed experiment through an installed usnet: prints the reason for ENOTCONN.
#include <arpa/inet.h>
#include <usnet/sim.hpp>

#include <cerrno>
#include <cstdio>

int main() {
    auto world = usnet::sim::make_default_world(1);
    usnet::Stack& host = *world.host;
    int fd = host.socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(53);
    inet_pton(AF_INET, "8.8.8.8", &dst.sin_addr);
    host.sendto(fd, "", 0, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (host.getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 || errno != ENOTCONN) return 1;
    std::printf("%s\n", usnet::last_error_text().c_str());
    host.connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    len = sizeof peer;
    return host.getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 ? 0 : 1;
}
