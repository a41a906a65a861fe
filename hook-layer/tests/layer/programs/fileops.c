/* File operations run under the layer by the integration tests: one operation per call,
 * results on stdout, failures as "errno=N". */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(void) { printf("errno=%d\n", errno); return 1; }

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *op = argv[1], *path = argv[2];
    if (!strcmp(op, "cat")) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) return fail();
        char buf[4096]; ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
        return close(fd);
    }
    if (!strcmp(op, "fgets")) {
        FILE *f = fopen(path, "r");
        if (!f) return fail();
        char line[256];
        while (fgets(line, sizeof line, f)) printf("line:%s", line);
        return fclose(f);
    }
    if (!strcmp(op, "mmap")) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail();
        struct stat st;
        if (fstat(fd, &st)) return fail();
        unsigned char *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) return fail();
        unsigned long sum = 0;
        for (off_t i = 0; i < st.st_size; i++) sum = sum * 31 + p[i];
        printf("size=%lld sum=%lu\n", (long long)st.st_size, sum);
        return 0;
    }
    if (!strcmp(op, "cd-stat") && argc > 3) {
        /* stat of the relative PATH in /etc, then in /tmp, reached by HOW: chdir, fchdir or
         * syscall (SYS_chdir) */
        const char *how = argv[3];
        struct stat st;
        if (chdir("/etc")) return fail();
        for (int round = 0; round < 2; round++) {
            if (stat(path, &st)) printf("errno=%d\n", errno);
            else printf("ino=%llu\n", (unsigned long long)st.st_ino);
            int moved;
            if (!strcmp(how, "fchdir")) {
                int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
                moved = dir < 0 ? -1 : fchdir(dir);
                close(dir);
            } else if (!strcmp(how, "syscall")) moved = (int)syscall(SYS_chdir, "/tmp");
            else moved = chdir("/tmp");
            if (moved) return fail();
        }
        return 0;
    }
    if (!strcmp(op, "stat") || !strcmp(op, "lstat")) {
        struct stat st;
        int rc = op[0] == 's' ? stat(path, &st) : lstat(path, &st);
        if (rc) return fail();
        printf("mode=%o size=%lld uid=%u mtime=%lld ino=%llu\n", st.st_mode, (long long)st.st_size,
               st.st_uid, (long long)st.st_mtime, (unsigned long long)st.st_ino);
        return 0;
    }
    if (!strcmp(op, "statx")) {
        struct statx stx;
        if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx)) return fail();
        printf("mode=%o size=%llu\n", stx.stx_mode, (unsigned long long)stx.stx_size);
        return 0;
    }
    if (!strcmp(op, "rawstatx")) {
        /* what libuv (Node.js) does: statx through the generic syscall() function */
        struct statx stx;
        int flags = argc > 3 && !strcmp(argv[3], "nofollow") ? AT_SYMLINK_NOFOLLOW : 0;
        if (syscall(SYS_statx, AT_FDCWD, path, flags, STATX_BASIC_STATS, &stx)) return fail();
        printf("mode=%o size=%llu\n", stx.stx_mode, (unsigned long long)stx.stx_size);
        return 0;
    }
    if (!strcmp(op, "rawgetpid")) {
        /* any other syscall() number passes through untouched, errno included */
        long pid = syscall(SYS_getpid);
        long bad = syscall(SYS_close, -1);
        printf("same=%d rc=%ld errno=%d\n", pid == (long)getpid(), bad, errno);
        return 0;
    }
    if (!strcmp(op, "access")) {
        if (access(path, R_OK)) return fail();
        printf("ok\n");
        return 0;
    }
    if (!strcmp(op, "readlink")) {
        char buf[8];
        ssize_t n = readlink(path, buf, sizeof buf);
        if (n < 0) return fail();
        printf("%.*s (%zd)\n", (int)n, buf, n);
        return 0;
    }
    if (!strcmp(op, "realpath")) {
        char *r = realpath(path, NULL);
        if (!r) return fail();
        printf("%s\n", r);
        free(r);
        return 0;
    }
    if (!strcmp(op, "ls")) {
        DIR *d = opendir(path);
        if (!d) return fail();
        struct dirent *e;
        while ((e = readdir(d))) printf("%s:%d\n", e->d_name, e->d_type);
        int fd = dirfd(d);
        int sub = openat(fd, argc > 3 ? argv[3] : "config.yaml", O_RDONLY);
        if (sub >= 0) { char b[64]; ssize_t n = read(sub, b, sizeof b); printf("openat:%.*s", (int)n, b); close(sub); }
        return closedir(d);
    }
    if (!strcmp(op, "placeholder")) {
        /* Which host directory stands for the target directory PATH, then a listing. */
        DIR *d = opendir(path);
        if (!d) return fail();
        char link[64], host[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd(d));
        ssize_t n = readlink(link, host, sizeof host - 1);
        if (n < 0) return fail();
        printf("host:%.*s\n", (int)n, host);
        struct dirent *e;
        while ((e = readdir(d))) printf("%s\n", e->d_name);
        return closedir(d);
    }
    if (!strcmp(op, "scandir")) {
        struct dirent **list;
        int n = scandir(path, &list, NULL, alphasort);
        if (n < 0) return fail();
        for (int i = 0; i < n; i++) { printf("%s\n", list[i]->d_name); free(list[i]); }
        free(list);
        return 0;
    }
    if (!strcmp(op, "write") || !strcmp(op, "fwrite")) {
        const char *text = argc > 3 ? argv[3] : "";
        if (op[0] == 'w') {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
            if (fd < 0) return fail();
            if (write(fd, text, strlen(text)) < 0) return fail();
            if (close(fd)) return fail();
        } else {
            FILE *f = fopen(path, "a");
            if (!f) return fail();
            fputs(text, f);
            if (fclose(f)) return fail();
        }
        printf("written\n");
        return 0;
    }
    if (!strcmp(op, "rename-noreplace")) {
        /* renameat2(RENAME_NOREPLACE) of PATH onto argv[3] */
        if (argc < 4) return 2;
        if (renameat2(AT_FDCWD, path, AT_FDCWD, argv[3], RENAME_NOREPLACE)) return fail();
        printf("renamed\n");
        return 0;
    }
    if (!strcmp(op, "bench") && argc > 4) {
        /* bench: N calls of CALL (stat, open, access, readlink) on PATH; with DIR, the *at call
         * relative to a descriptor of DIR */
        const char *call = argv[3];
        long n = atol(argv[4]);
        int dir = AT_FDCWD;
        if (argc > 5 && (dir = open(argv[5], O_PATH | O_DIRECTORY)) < 0) return fail();
        struct stat st;
        char buf[PATH_MAX];
        for (long i = 0; i < n; i++) {
            int bad;
            if (!strcmp(call, "stat")) bad = dir == AT_FDCWD ? stat(path, &st) : fstatat(dir, path, &st, 0);
            else if (!strcmp(call, "access")) bad = dir == AT_FDCWD ? access(path, R_OK) : faccessat(dir, path, R_OK, 0);
            else if (!strcmp(call, "readlink"))
                bad = (dir == AT_FDCWD ? readlink(path, buf, sizeof buf) : readlinkat(dir, path, buf, sizeof buf)) < 0;
            else if (!strcmp(call, "open")) {
                int fd = dir == AT_FDCWD ? open(path, O_RDONLY) : openat(dir, path, O_RDONLY);
                bad = fd < 0 || close(fd) != 0;
            } else return 2;
            if (bad) return fail();
        }
        printf("done\n");
        return 0;
    }
    return 2;
}
