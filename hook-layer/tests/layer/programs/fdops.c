/* Descriptor sequences on a file opened for writing, run under the layer by the write-back
 * tests: duplicates, redirections of stdout the way shells do them, forks, exit without
 * close. Failures print "errno=N" on stderr and exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(int ok, const char *what) {
    if (!ok) { fprintf(stderr, "%s: errno=%d\n", what, errno); exit(1); }
}

static int open_new(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "open");
    return fd;
}

static void put(int fd, const char *text) {
    check(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
}

/* What dash does for `echo TEXT > PATH`: save stdout above 10, open, move the file onto
 * stdout, close the original, write to stdout, then restore stdout (or exit with it open). */
static void redirect(const char *path, const char *text, int restore) {
    int saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
    check(saved >= 10, "fcntl F_DUPFD_CLOEXEC");
    int fd = open_new(path);
    check(dup2(fd, 1) == 1, "dup2");
    check(close(fd) == 0, "close");
    put(1, text);
    if (!restore) exit(0);
    check(dup2(saved, 1) == 1, "dup2 restore");
    check(close(saved) == 0, "close saved");
    printf("restored\n");
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *op = argv[1], *path = argv[2], *text = argv[3];
    if (!strcmp(op, "redirect-restore")) { redirect(path, text, 1); return 0; }
    if (!strcmp(op, "redirect-exit")) { redirect(path, text, 0); return 0; }
    if (!strcmp(op, "redirect-execvp") || !strcmp(op, "redirect-execv")) {
        /* the file on stdout, then `echo TEXT` replaces this program (PATH search or not) */
        int fd = open_new(path);
        check(dup2(fd, 1) == 1, "dup2");
        check(close(fd) == 0, "close");
        char *args[] = {"echo", (char *)text, NULL};
        if (!strcmp(op, "redirect-execvp")) execvp("echo", args);
        else execv("/bin/echo", args);
        check(0, "exec");
    }
    if (!strcmp(op, "dup-chain")) {
        /* the first close sends the (empty) new file, the second the text, the third nothing */
        int fd = open_new(path);
        int d = fcntl(fd, F_DUPFD_CLOEXEC, 20);
        check(d >= 20, "fcntl F_DUPFD_CLOEXEC");
        int e = dup(d);
        check(e >= 0, "dup");
        check(close(fd) == 0, "close fd");
        put(d, text);
        check(close(d) == 0, "close d");
        check(close(e) == 0, "close e");
        printf("closed\n");
        return 0;
    }
    if (!strcmp(op, "fork-child-idle")) {
        /* a child that never writes exits with the file open: only the parent sends */
        int fd = open_new(path);
        put(fd, text);
        usleep(50 * 1000); /* leave the file timestamp's clock tick before forking */
        pid_t child = fork();
        check(child >= 0, "fork");
        if (child == 0) exit(0);
        check(waitpid(child, NULL, 0) == child, "waitpid");
        put(fd, "+parent");
        check(close(fd) == 0, "close");
        printf("closed\n");
        return 0;
    }
    if (!strcmp(op, "fork-child-writes")) {
        /* a child writes and exits without closing: its content reaches the target */
        int fd = open_new(path);
        pid_t child = fork();
        check(child >= 0, "fork");
        if (child == 0) { put(fd, text); exit(0); }
        int status;
        check(waitpid(child, &status, 0) == child, "waitpid");
        printf("child exited %d\n", WEXITSTATUS(status));
        return 0;
    }
    return 2;
}
