/* listen.c -- state listeners (coord.h): parties besides opts.state_cb
 * that follow a client's session state, e.g. the recipes' loss
 * notifications. The table lives in struct coord_client under mu; the I/O
 * thread runs the listeners with mu released, one at a time, re-checking
 * before each call that it was not removed meanwhile. Removal from another
 * thread waits until the running pass ends, so a removed listener's data
 * may be freed at once. Must not run a listener while holding mu.
 */
#include "client_int.h"

#include <string.h>

void coord__listeners_run(struct coord_client *c, int state)
{
    struct coord__listener copy[COORD_STATE_LISTENERS_MAX];

    pthread_mutex_lock(&c->mu);
    size_t n = c->n_lst;
    if (n == 0) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    memcpy(copy, c->lst, n * sizeof(copy[0]));
    c->lst_running = true;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        bool present = false;
        pthread_mutex_lock(&c->mu); /* removed by an earlier listener? */
        for (size_t j = 0; j < c->n_lst && !present; j++)
            present = c->lst[j].id == copy[i].id;
        pthread_mutex_unlock(&c->mu);
        if (present)
            copy[i].cb(copy[i].data, state);
    }
    pthread_mutex_lock(&c->mu);
    c->lst_running = false;
    pthread_cond_broadcast(&c->users_cv);
    pthread_mutex_unlock(&c->mu);
}

int coord_add_state_listener(struct coord_client *c, coord_state_cb cb,
                             void *data, uint64_t *id)
{
    if (c == NULL || cb == NULL || id == NULL)
        return COORD_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->n_lst == COORD_STATE_LISTENERS_MAX) {
        pthread_mutex_unlock(&c->mu);
        return COORD_ETOOMANY;
    }
    struct coord__listener *l = &c->lst[c->n_lst++];
    l->cb = cb;
    l->data = data;
    l->id = ++c->lst_next_id;
    *id = l->id;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int coord_remove_state_listener(struct coord_client *c, uint64_t id)
{
    if (c == NULL)
        return COORD_EINVAL;
    bool io = coord__on_io_thread(c);
    int rc = COORD_EINVAL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_lst; i++) {
        if (c->lst[i].id != id)
            continue;
        c->lst[i] = c->lst[--c->n_lst]; /* order does not matter */
        rc = 0;
        break;
    }
    while (rc == 0 && !io && c->lst_running)
        pthread_cond_wait(&c->users_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    return rc;
}
