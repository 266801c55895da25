/* usnet C API: the libc socket calls, one for one, on a usnet stack. Each returns what
 * libc would, and sets errno exactly as Linux would. Calls act on the current stack,
 * which is the host of a default world created on first use unless usnet_use() chose
 * another. */
#ifndef USNET_USNET_H
#define USNET_USNET_H

#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct usnet_stack usnet_stack;
typedef struct usnet_world usnet_world;

/* The default world: host 10.0.2.15/24 on eth0 (and lo), gateway 10.0.2.2. */
usnet_world* usnet_world_new_default(uint64_t seed);
void usnet_world_free(usnet_world* w);
usnet_stack* usnet_world_host(usnet_world* w);
usnet_stack* usnet_world_gateway(usnet_world* w);
/* A host on the TAP device `tap` (created if missing, which needs CAP_NET_ADMIN; a
 * persistent TAP of the caller's user works without): address `addr` ("10.7.0.2/24"),
 * default route via `gateway` (NULL: none). It runs in real time: a blocking call waits
 * for frames from the TAP. NULL on failure, with the reason in err (errlen bytes). */
usnet_world* usnet_world_new_tap(const char* tap, const char* addr, const char* gateway, char* err, size_t errlen);
/* Lets the world run for timeout_ms: frames from a TAP are taken in and answered (ARP,
 * ping) and timers run, for a program that is about to do something else for a while. */
void usnet_world_run(usnet_world* w, int timeout_ms);
/* Make s the stack the calls below act on (process-wide). */
void usnet_use(usnet_stack* s);
usnet_stack* usnet_current(void);

int usnet_socket(int domain, int type, int protocol);
int usnet_bind(int fd, const struct sockaddr* addr, socklen_t len);
int usnet_connect(int fd, const struct sockaddr* addr, socklen_t len);
int usnet_getsockname(int fd, struct sockaddr* addr, socklen_t* len);
int usnet_getpeername(int fd, struct sockaddr* addr, socklen_t* len);
ssize_t usnet_send(int fd, const void* buf, size_t len, int flags);
ssize_t usnet_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to, socklen_t tolen);
ssize_t usnet_sendmsg(int fd, const struct msghdr* msg, int flags);
int usnet_sendmmsg(int fd, struct mmsghdr* msgs, unsigned int vlen, int flags);
ssize_t usnet_recv(int fd, void* buf, size_t len, int flags);
ssize_t usnet_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen);
ssize_t usnet_recvmsg(int fd, struct msghdr* msg, int flags);
int usnet_recvmmsg(int fd, struct mmsghdr* msgs, unsigned int vlen, int flags, struct timespec* timeout);
int usnet_shutdown(int fd, int how);
int usnet_close(int fd);
int usnet_setsockopt(int fd, int level, int name, const void* val, socklen_t len);
int usnet_getsockopt(int fd, int level, int name, void* val, socklen_t* len);
int usnet_ioctl(int fd, unsigned long req, void* arg);
int usnet_fcntl(int fd, int cmd, long arg);
int usnet_poll(struct pollfd* fds, nfds_t n, int timeout_ms);

/* Tracing (see usnet/trace.hpp and docs/trace.md): each socket call on stack s, and each
 * frame arriving and timer firing, as one tree of the Linux functions it reproduces, handed
 * to fn with `user`. calls: comma-separated call names to keep ("connect,getpeername"), or
 * NULL for all; fd: only calls on this descriptor, or -1; flags: USNET_TRACE_ERRORS_ONLY,
 * USNET_TRACE_NO_INBOUND. fn NULL turns tracing off. Returns 0, or -1 with errno EINVAL
 * for an unknown call name. */
typedef void (*usnet_trace_fn)(const char* tree, void* user);
#define USNET_TRACE_ERRORS_ONLY 1
#define USNET_TRACE_NO_INBOUND 2
int usnet_set_tracer(usnet_stack* s, usnet_trace_fn fn, void* user, const char* calls, int fd, int flags);

/* Why the calling thread's last failing call failed: one sentence, "" after success. */
const char* usnet_last_error_reason(void);

#ifdef __cplusplus
}
#endif

#endif
