/* posix_spawn of argv[1..] with an explicit environment that lacks LD_PRELOAD and TETHER_*. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char *env[] = {"PATH=/usr/bin:/bin", "HOME=/nonexistent", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, argv[1], NULL, NULL, argv + 1, env);
    if (rc) { printf("spawn=%d\n", rc); return 1; }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
