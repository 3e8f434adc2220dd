/* common.c -- the helpers every recipe shares (recipe_int.h): a watch
 * waiter, deadlines, path creation, GUIDs and the ephemeral-sequential
 * node protocol. Uses only the public coord.h API; must not block on a
 * libcoord callback (the watch callback only signals a condition). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "recipe_int.h"

int64_t rcp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rcp_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : rcp_now_ms() + timeout_ms;
}

int rcp_wait_new(struct rcp_wait **out)
{
    struct rcp_wait *w = coord_alloc_mem(sizeof(*w));
    if (w == NULL)
        return COORD_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    *out = w;
    return 0;
}

/* A watch that may still fire keeps w alive: it is removed from the
 * client if we can, else w is leaked rather than freed under it. */
void rcp_wait_free(struct rcp_wait *w, struct coord_client *c)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    int armed = w->armed, overflow = w->overflow;
    int kind[RCP_ARM_SLOTS];
    char path[RCP_ARM_SLOTS][RCP_PATH_MAX];
    memcpy(kind, w->armed_kind, sizeof(kind));
    memcpy(path, w->armed_path, sizeof(path));
    pthread_mutex_unlock(&w->mu);
    if (overflow > 0)
        return; /* leaked: a watch we did not keep may still call back */
    int st = coord_state(c);
    if (armed > 0 && (st == COORD_STATE_EXPIRED || st == COORD_STATE_CLOSED))
        armed = 0; /* no watch fires any more */
    for (int i = 0; i < RCP_ARM_SLOTS && armed > 0; i++) {
        if (path[i][0] == '\0')
            continue;
        int rc = coord_remove_watch(c, path[i], kind[i]);
        if (rc != 0 && rc != COORD_ENOWATCH)
            return; /* leaked: a watch may still call back */
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    coord_free_mem(w);
}

static void rcp_wait_cb(void *data, const struct coord_event *ev)
{
    struct rcp_wait *w = data;
    bool tracked = false;
    pthread_mutex_lock(&w->mu);
    w->fired++;
    for (int i = 0; i < RCP_ARM_SLOTS; i++) {
        if (w->armed > 0 && w->armed_path[i][0] != '\0' &&
            strcmp(ev->path, w->armed_path[i]) == 0) {
            w->armed--;
            w->armed_path[i][0] = '\0';
            w->confirmed[i] = false;
        }
    }
    for (int i = 0; i < RCP_WAIT_SLOTS; i++) {
        if (ev->type == COORD_EVENT_DELETED &&
            w->track_path[i][0] != '\0' &&
            strcmp(ev->path, w->track_path[i]) == 0) {
            w->gone[i] = true;
            tracked = true;
        }
    }
    if (!tracked)
        w->other++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

struct coord_watcher rcp_watcher(struct rcp_wait *w)
{
    struct coord_watcher cw = {.cb = rcp_wait_cb, .data = w};
    return cw;
}

uint64_t rcp_wait_seen(struct rcp_wait *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t f = w->fired;
    pthread_mutex_unlock(&w->mu);
    return f;
}

/* The slot holding path, else a free one (taken); -1 if none. Under mu. */
static int slot_take(struct rcp_wait *w, const char *path, int kind)
{
    int free_slot = -1;
    for (int i = 0; i < RCP_ARM_SLOTS; i++) {
        if (w->armed_path[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(path, w->armed_path[i]) == 0) {
            return i;
        }
    }
    if (free_slot < 0) {
        w->overflow++;
        return -1;
    }
    w->armed++;
    w->armed_kind[free_slot] = kind;
    w->confirmed[free_slot] = false;
    snprintf(w->armed_path[free_slot], RCP_PATH_MAX, "%s", path);
    return free_slot;
}

/* Registrations dedupe by (path, kind, callback): arming the same path
 * again adds nothing. */
void rcp_wait_armed(struct rcp_wait *w, const char *path, int kind)
{
    pthread_mutex_lock(&w->mu);
    slot_take(w, path, kind);
    pthread_mutex_unlock(&w->mu);
}

int rcp_wait_prearm(struct rcp_wait *w, const char *path, int kind)
{
    pthread_mutex_lock(&w->mu);
    int i = slot_take(w, path, kind);
    pthread_mutex_unlock(&w->mu);
    return i;
}

void rcp_wait_settle(struct rcp_wait *w, int slot, const char *path,
                     bool registered, bool absent)
{
    if (slot < 0 || slot >= RCP_ARM_SLOTS)
        return;
    pthread_mutex_lock(&w->mu);
    if (strcmp(w->armed_path[slot], path) == 0) {
        if (registered) {
            w->confirmed[slot] = true;
        } else if (absent) {
            w->armed--;
            w->armed_path[slot][0] = '\0';
            w->confirmed[slot] = false;
        }
    }
    pthread_mutex_unlock(&w->mu);
}

void rcp_wait_track(struct rcp_wait *w, const char *const *paths)
{
    pthread_mutex_lock(&w->mu);
    char old[RCP_WAIT_SLOTS][RCP_PATH_MAX];
    bool was[RCP_WAIT_SLOTS];
    memcpy(old, w->track_path, sizeof(old));
    memcpy(was, w->gone, sizeof(was));
    for (int i = 0; i < RCP_WAIT_SLOTS; i++) {
        const char *p = paths[i] != NULL ? paths[i] : "";
        snprintf(w->track_path[i], RCP_PATH_MAX, "%s", p);
        w->gone[i] = false;
        for (int j = 0; j < RCP_WAIT_SLOTS && p[0] != '\0'; j++)
            if (strcmp(p, old[j]) == 0)
                w->gone[i] = was[j];
    }
    pthread_mutex_unlock(&w->mu);
}

void rcp_wait_set_gone(struct rcp_wait *w, int i)
{
    if (i < 0 || i >= RCP_WAIT_SLOTS)
        return;
    pthread_mutex_lock(&w->mu);
    w->gone[i] = true;
    pthread_mutex_unlock(&w->mu);
}

unsigned rcp_wait_gone(struct rcp_wait *w, uint64_t *other)
{
    unsigned m = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < RCP_WAIT_SLOTS; i++)
        if (w->gone[i])
            m |= 1u << i;
    if (other != NULL)
        *other = w->other;
    pthread_mutex_unlock(&w->mu);
    return m;
}

bool rcp_wait_is_armed(struct rcp_wait *w, const char *path)
{
    bool armed = false;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < RCP_ARM_SLOTS && !armed; i++)
        armed = w->confirmed[i] && strcmp(w->armed_path[i], path) == 0;
    pthread_mutex_unlock(&w->mu);
    return armed;
}

static int session_gone(struct coord_client *c)
{
    int st = coord_state(c);
    if (st == COORD_STATE_EXPIRED)
        return COORD_ESESSIONEXPIRED;
    if (st == COORD_STATE_CLOSED)
        return COORD_ECLOSED;
    return 0;
}

/* Waits in slices of at most 100 ms so that a session that ends (no watch
 * will fire then) is noticed. */
int rcp_wait_until(struct rcp_wait *w, uint64_t seen, int64_t deadline,
                   struct coord_client *c)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    while (w->fired == seen) {
        int64_t now = rcp_now_ms();
        if (deadline >= 0 && now >= deadline) {
            rc = COORD_ETIMEDOUT;
            break;
        }
        if ((rc = session_gone(c)) != 0)
            break;
        int64_t until = now + 100;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        struct timespec ts = {.tv_sec = until / 1000,
                              .tv_nsec = (until % 1000) * 1000000};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int rcp_mkpath(struct coord_client *c, const char *path)
{
    char buf[RCP_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf) || path[0] != '/')
        return COORD_EBADPATH;
    memcpy(buf, path, n + 1);
    if (coord_exists(c, path, 0, NULL, NULL) == 0)
        return 0;
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        int rc = coord_create(c, buf, "", 0, 0, 0, NULL, NULL);
        buf[i] = saved;
        if (rc != 0 && rc != COORD_ENODEEXISTS)
            return rc;
    }
    return 0;
}

void rcp_guid(char out[RCP_GUID_LEN + 1])
{
    uint8_t b[RCP_GUID_LEN / 2];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* no entropy source: time and address still differ per handle */
        uint64_t t = (uint64_t)rcp_now_ms() ^ (uint64_t)(uintptr_t)out;
        memcpy(b, &t, sizeof(b));
    }
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int rcp_join(char *out, size_t cap, const char *dir, const char *name)
{
    int k = snprintf(out, cap, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= cap ? COORD_ETOOBIG : 0;
}

int64_t rcp_seq(const char *name)
{
    const char *d = strrchr(name, '-');
    if (d == NULL || strlen(d + 1) != 10)
        return -1;
    int64_t v = 0;
    for (const char *p = d + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}
