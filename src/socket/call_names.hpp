// The socket API's constants and arguments by name, as a trace's first line shows them:
// "socket(AF_INET, SOCK_DGRAM, 0)", "sendto(3, 5 bytes, MSG_DONTWAIT, 10.0.2.2:53)".
#pragma once
#include <sys/socket.h>

#include <string>

namespace usnet::sock {

std::string family_name(int family);
std::string type_name(int type);      // with SOCK_NONBLOCK / SOCK_CLOEXEC
std::string protocol_name(int proto);
std::string msg_flags_name(int flags);  // "0" or "MSG_PEEK|MSG_DONTWAIT"
std::string level_name(int level);
std::string option_name(int level, int name);
std::string ioctl_name(unsigned long req);
std::string fcntl_name(int cmd);
std::string shutdown_name(int how);
// An address argument as given: "10.0.2.2:53", "AF_UNSPEC", "NULL", "{family 10}", with
// ", len N" when the length is not sizeof(sockaddr_in).
std::string sockaddr_arg(const sockaddr* a, socklen_t len);
// "ECONNREFUSED" (or the number when it has no name).
std::string errno_name(int e);
// A result: "5" or "-1 ENOTCONN".
std::string result_str(long r, int err);

}  // namespace usnet::sock
