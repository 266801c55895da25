// New processes and signal masks around usnet sockets, with the system-call trap on: the
// children that posix_spawn, popen, system and vfork make share the parent's memory until
// exec, and glibc runs them with every signal blocked; a thread may start with every
// signal blocked; the program may install its own SIGSYS handler. Each line is compared
// with the kernel's (trap_test.sh).
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {

void on_sigsys(int) {}

void* raw_socket_thread(void*) {
    const long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    std::printf("thread started with every signal blocked: raw socket = %ld, close = %ld\n", fd, syscall(SYS_close, fd));
    return nullptr;
}

int bound_port(int s) {
    sockaddr_in a{};
    socklen_t l = sizeof a;
    if (getsockname(s, reinterpret_cast<sockaddr*>(&a), &l) != 0) return -1;
    return a.sin_port != 0;
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::printf("socket = %d, bind = %d\n", s, bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a));

    FILE* p = popen("echo popen-ok", "r");
    char buf[64] = {};
    if (!p || !fgets(buf, sizeof buf, p)) std::strcpy(buf, "nothing\n");
    std::printf("popen read: %s", buf);
    std::printf("pclose = %d\n", p ? pclose(p) : -1);
    std::printf("system(\"exit 3\") = %d\n", system("exit 3"));

    // posix_spawn with every signal's default restored and file actions on the socket.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, s);
    posix_spawn_file_actions_adddup2(&fa, 1, 7);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    char arg0[] = "/bin/true";
    char* argv[] = {arg0, nullptr};
    const int r = posix_spawn(&pid, arg0, &fa, &at, argv, environ);
    int st = 0;
    waitpid(pid, &st, 0);
    std::printf("posix_spawn = %d, exit status %d\n", r, WEXITSTATUS(st));

    // vfork: the child closes the socket in its own descriptor table only.
    pid = vfork();
    if (pid == 0) {
        close(s);
        _exit(5);
    }
    waitpid(pid, &st, 0);
    std::printf("vfork child exit status %d\n", WEXITSTATUS(st));
    std::printf("the parent's socket after its children: bound %d\n", bound_port(s));

    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    pthread_create(&t, nullptr, raw_socket_thread, nullptr);
    pthread_join(t, nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);

    signal(SIGSYS, on_sigsys);
    struct sigaction o{};
    sigaction(SIGSYS, nullptr, &o);
    std::printf("the program's SIGSYS handler reads back: %d\n", o.sa_handler == on_sigsys);
    signal(SIGSYS, SIG_DFL);

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        std::printf("forked child: the socket is bound %d\n", bound_port(s));
        _exit(0);
    }
    waitpid(pid, &st, 0);
    std::printf("close = %d\n", close(s));
    return 0;
}
