/* A listening socket under the layer: listen on 127.0.0.1, connect to itself over loopback,
 * accept, print the peer address accept reported and the one getpeername reports, close. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) { printf("%s errno=%d\n", what, errno); return 1; }

static void print_addr(const char *label, struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    printf("%s=%s:%d\n", label, host, ntohs(in->sin_port));
}

int main(int argc, char **argv) {
    int use_accept4 = argc > 1 && strcmp(argv[1], "accept4") == 0;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("bind");
    if (listen(listener, 4) != 0) return fail("listen");
    if (getsockname(listener, (struct sockaddr *)&addr, &len) != 0) return fail("getsockname");
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("connect");
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int accepted = use_accept4 ? accept4(listener, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC)
                               : accept(listener, (struct sockaddr *)&peer, &peer_len);
    if (accepted < 0) return fail("accept");
    print_addr("accept", &peer);
    peer_len = sizeof peer;
    if (getpeername(accepted, (struct sockaddr *)&peer, &peer_len) != 0) return fail("getpeername");
    print_addr("peer", &peer);
    close(accepted);
    close(client);
    close(listener);
    return 0;
}
