/* C threads that keep calling a Python callback, forever, for the shutdown tests: the
 * interpreter finalizes while they run (tests/test_shutdown.py). */
#include <pthread.h>
#include <unistd.h>

typedef int (*callback_t)(int);

static void *call_forever(void *arg) {
    callback_t cb = (callback_t)arg;
    for (int i = 0;; i++) {
        cb(i);
    }
    return NULL;
}

/* Starts n detached threads, each calling cb(i) for i = 0, 1, ... until the process ends.
 * Returns the number started. */
int start_callers(int n, callback_t cb) {
    int started = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, call_forever, (void *)cb) == 0) {
            pthread_detach(t);
            started++;
        }
    }
    return started;
}

/* A foreign call that takes a while (the GIL is released around it). */
int nap(int usec) {
    usleep(usec);
    return usec;
}

/* Calls cb once on the calling thread (a Python thread): C -> Python -> ... */
int call_once(callback_t cb, int v) {
    return cb(v);
}
