/* Forks while another thread keeps the layer's descriptor registry busy: the children must
 * not inherit a held lock (they dup and close a tracked descriptor and exit at once).
 *
 *   forkops busy-fork PATH FORKS   prints "forked N, hung H" (a child still alive after 2 s
 *                                  counts as hung and is killed)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int tracked;
static atomic_int stop;

static void *churn(void *unused) {
    (void)unused;
    while (!atomic_load(&stop)) {
        int copy = dup(tracked);
        if (copy >= 0) close(copy);
    }
    return NULL;
}

/* Waits up to 2 s for `pid`; kills it and returns 1 when it is still running. */
static int hung(pid_t pid) {
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return 0;
        struct timespec tick = {0, 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "busy-fork")) {
        fprintf(stderr, "usage: forkops busy-fork PATH FORKS\n");
        return 2;
    }
    tracked = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (tracked < 0) {
        printf("errno=%d\n", errno);
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, churn, NULL);
    int forks = atoi(argv[3]), forked = 0, stuck = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int copy = dup(tracked);
            close(copy);
            _exit(0);
        }
        if (pid > 0) {
            forked++;
            stuck += hung(pid);
        }
    }
    atomic_store(&stop, 1);
    pthread_join(thread, NULL);
    printf("forked %d, hung %d\n", forked, stuck);
    return 0;
}
