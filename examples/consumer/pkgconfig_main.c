/* A C program built with `pkg-config --cflags --libs usnet`. */
#include <errno.h>
#include <stdio.h>
#include <usnet/usnet.h>

int main(void) {
    int fd = usnet_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || usnet_getpeername(fd, (struct sockaddr*)&ss, &len) == 0 || errno != ENOTCONN) return 1;
    printf("%s\n", usnet_last_error_reason());
    return 0;
}
