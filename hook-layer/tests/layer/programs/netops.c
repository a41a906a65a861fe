/* Network and name operations run under the layer by the integration tests. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) { printf("%s errno=%d\n", what, errno); return 1; }

static void print_addr(const char *label, struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    int port;
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host); port = ntohs(in->sin_port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host); port = ntohs(in6->sin6_port);
    }
    printf("%s=%s:%d\n", label, host, port);
}

static int to_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET; in->sin_port = htons(port); *len = sizeof *in; return AF_INET;
    }
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    in6->sin6_family = AF_INET6; in6->sin6_port = htons(port); *len = sizeof *in6; return AF_INET6;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *op = argv[1];
    if (!strcmp(op, "gai")) {
        struct addrinfo hints = {0}, *res, *p;
        hints.ai_flags = AI_CANONNAME;
        if (argc > 3) hints.ai_family = atoi(argv[3]);
        int rc = getaddrinfo(argv[2], "80", &hints, &res);
        if (rc) { printf("gai=%d\n", rc); return 1; }
        if (res->ai_canonname) printf("canon=%s\n", res->ai_canonname);
        for (p = res; p; p = p->ai_next) {
            struct sockaddr_storage ss; memcpy(&ss, p->ai_addr, p->ai_addrlen);
            printf("type=%d ", p->ai_socktype); print_addr("addr", &ss);
        }
        freeaddrinfo(res);
        return 0;
    }
    if (!strcmp(op, "ghbn")) {
        struct hostent *h = gethostbyname(argv[2]);
        if (!h) { printf("h_errno=%d\n", h_errno); return 1; }
        char host[INET_ADDRSTRLEN];
        printf("name=%s\n", h->h_name);
        for (char **a = h->h_addr_list; *a; a++) printf("addr=%s\n", inet_ntop(AF_INET, *a, host, sizeof host));
        return 0;
    }
    if (argc < 4) return 2;
    struct sockaddr_storage dest; socklen_t dest_len;
    int family = to_addr(argv[2], atoi(argv[3]), &dest, &dest_len);
    if (argc > 4 && !strcmp(argv[4], "v6") && family == AF_INET) {
        /* the same destination as ::ffff:a.b.c.d on an AF_INET6 socket */
        struct sockaddr_in in = *(struct sockaddr_in *)&dest;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&dest;
        memset(&dest, 0, sizeof dest);
        in6->sin6_family = AF_INET6; in6->sin6_port = in.sin_port;
        in6->sin6_addr.s6_addr[10] = 0xff; in6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
        family = AF_INET6; dest_len = sizeof *in6;
    }
    if (!strcmp(op, "tcp")) {
        int fd = socket(family, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&dest, dest_len)) return fail("connect");
        struct sockaddr_storage peer; socklen_t peer_len = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &peer_len)) return fail("getpeername");
        print_addr("peer", &peer);
        char buf[256]; ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n < 0) return fail("read");
        printf("reply=%.*s", (int)n, buf);
        return 0;
    }
    if (!strcmp(op, "udp")) {
        int fd = socket(family, SOCK_DGRAM, 0);
        if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&dest, dest_len) != 4) return fail("sendto");
        char buf[256]; struct sockaddr_storage src; socklen_t src_len = sizeof src;
        ssize_t n = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&src, &src_len);
        if (n < 0) return fail("recvfrom");
        print_addr("source", &src);
        printf("reply=%.*s\n", (int)n, buf);
        return 0;
    }
    return 2;
}
