/* session.c -- coordctl's view of its session state: the state callback
 * main.c installs at coord_open(), a bounded wait for the first
 * handshake (so "cannot reach the cluster" is told apart from a slow
 * operation), and a wake hook for watch's printer. The callback runs on
 * libcoord's I/O thread and only records and signals. */
#include "ctl.h"

#include <pthread.h>
#include <time.h>

static pthread_mutex_t ctl_s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_s_cv;
static bool ctl_s_cv_ready;
static int ctl_s_state = COORD_STATE_CONNECTING;
static void (*ctl_s_hook)(void);

void ctl_session_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ctl_s_cv, &a);
    pthread_condattr_destroy(&a);
    ctl_s_cv_ready = true;
}

void ctl_state_cb(void *data, int state)
{
    (void)data;
    pthread_mutex_lock(&ctl_s_mu);
    ctl_s_state = state;
    void (*hook)(void) = ctl_s_hook;
    if (ctl_s_cv_ready)
        pthread_cond_broadcast(&ctl_s_cv);
    pthread_mutex_unlock(&ctl_s_mu);
    if (hook != NULL)
        hook();
}

int ctl_session_state(void)
{
    pthread_mutex_lock(&ctl_s_mu);
    int st = ctl_s_state;
    pthread_mutex_unlock(&ctl_s_mu);
    return st;
}

void ctl_session_hook(void (*hook)(void))
{
    pthread_mutex_lock(&ctl_s_mu);
    ctl_s_hook = hook;
    pthread_mutex_unlock(&ctl_s_mu);
}

int ctl_wait_connected(uint32_t timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&ctl_s_mu);
    while (ctl_s_state == COORD_STATE_CONNECTING && rc == 0)
        rc = pthread_cond_timedwait(&ctl_s_cv, &ctl_s_mu, &dl);
    int st = ctl_s_state;
    pthread_mutex_unlock(&ctl_s_mu);
    if (st == COORD_STATE_CONNECTING)
        return COORD_ETIMEDOUT;
    if (st == COORD_STATE_EXPIRED)
        return COORD_ESESSIONEXPIRED;
    return 0;
}
