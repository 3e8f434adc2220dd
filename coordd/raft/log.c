/* log.c -- the in-memory Raft log: every entry since the last snapshot, in
 * a fixed entry array and a fixed payload arena (layout in raft_int.h).
 *
 * The durable copy lives with the caller (coordd/store); this file only
 * mirrors it and records what each step changed so step.c can describe the
 * persist batch. It allocates only in raft_log_init() and never does I/O.
 */
#include "raft_int.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

int raft_log_init(struct raft *r)
{
    coord_assert(r->cfg.log_entries_max > 0);
    coord_assert(r->cfg.log_bytes_max > 0);
    r->log_reserve = r->cfg.log_entries_max / RAFT_LOG_RESERVE_DIV;
    if (r->log_reserve < RAFT_LOG_RESERVE)
        r->log_reserve = RAFT_LOG_RESERVE;
    r->ents = coord_calloc((size_t)r->cfg.log_entries_max + r->log_reserve,
                           sizeof(*r->ents));
    r->arena = coord_malloc(r->cfg.log_bytes_max);
    if (r->ents == NULL || r->arena == NULL) {
        raft_log_free(r);
        return COORD_ENOMEM;
    }
    r->arena_cap = r->cfg.log_bytes_max;
    r->arena_tail = 0;
    r->n_ents = 0;
    return 0;
}

void raft_log_free(struct raft *r)
{
    coord_free(r->ents);
    coord_free(r->arena);
    r->ents = NULL;
    r->arena = NULL;
}

uint64_t raft_log_cap(const struct raft *r)
{
    return (uint64_t)r->cfg.log_entries_max + r->log_reserve;
}

uint64_t raft_log_last(const struct raft *r)
{
    return r->log_start + r->n_ents;
}

uint64_t raft_log_first(const struct raft *r)
{
    return r->log_start + 1;
}

uint64_t raft_log_term(const struct raft *r, uint64_t i)
{
    if (i == r->log_start)
        return r->log_start_term;
    if (i < r->log_start || i > raft_log_last(r))
        return 0;
    const struct raft_entry *e = &r->ents[i - r->log_start - 1];
    coord_assert(e->index == i);
    coord_assert(e->term >= r->log_start_term);
    return e->term;
}

const struct raft_entry *raft_log_at(const struct raft *r, uint64_t i)
{
    coord_assert(i > r->log_start);
    coord_assert(i <= raft_log_last(r));
    return &r->ents[i - r->log_start - 1];
}

bool raft_log_fits(const struct raft *r, uint32_t n, uint64_t bytes)
{
    coord_assert(r->n_ents <= raft_log_cap(r));
    coord_assert(r->arena_tail <= r->arena_cap);
    if ((uint64_t)r->n_ents + n > r->cfg.log_entries_max)
        return false;
    return bytes <= r->arena_cap - r->arena_tail;
}

bool raft_log_fits_reserve(const struct raft *r, uint64_t len)
{
    coord_assert(r->n_ents <= raft_log_cap(r));
    coord_assert(r->arena_tail <= r->arena_cap);
    if (r->n_ents + 1 > raft_log_cap(r))
        return false;
    return len <= r->arena_cap - r->arena_tail;
}

void raft_log_append(struct raft *r, uint64_t term, uint8_t type,
                     const uint8_t *data, uint32_t len)
{
    coord_assert(raft_log_fits_reserve(r, len));
    coord_assert(term >= raft_log_term(r, raft_log_last(r)));
    coord_assert(type >= RAFT_ENTRY_NORMAL && type <= RAFT_ENTRY_CONF);
    struct raft_entry *e = &r->ents[r->n_ents];
    e->index = raft_log_last(r) + 1;
    e->term = term;
    e->type = type;
    e->len = len;
    e->data = r->arena + r->arena_tail;
    if (len > 0)
        memcpy(r->arena + r->arena_tail, data, len);
    r->arena_tail += len;
    r->n_ents++;
    if (r->persist_from == 0 || r->persist_from > e->index)
        r->persist_from = e->index;
}

void raft_log_truncate(struct raft *r, uint64_t from)
{
    coord_assert(from > r->commit);
    coord_assert(from > r->log_start && from <= raft_log_last(r));
    const struct raft_entry *e = raft_log_at(r, from);
    r->arena_tail = (uint64_t)(e->data - r->arena);
    r->n_ents = (uint32_t)(from - r->log_start - 1);
    if (r->trunc_from == 0 || from < r->trunc_from)
        r->trunc_from = from;
    if (r->persist_from >= from)
        r->persist_from = 0;
    if (r->stable >= from)
        r->stable = from - 1;
    coord_assert(raft_log_last(r) == from - 1);
}

void raft_log_compact(struct raft *r, uint64_t upto)
{
    coord_assert(upto <= raft_log_last(r));
    if (upto <= r->log_start)
        return;
    uint64_t drop = upto - r->log_start;
    uint64_t term = raft_log_term(r, upto);
    uint64_t shift = 0;
    if (drop < r->n_ents)
        shift = (uint64_t)(r->ents[drop].data - r->arena);
    else
        shift = r->arena_tail;
    memmove(r->ents, r->ents + drop,
            (size_t)(r->n_ents - drop) * sizeof(*r->ents));
    memmove(r->arena, r->arena + shift, (size_t)(r->arena_tail - shift));
    r->n_ents -= (uint32_t)drop;
    r->arena_tail -= shift;
    for (uint32_t i = 0; i < r->n_ents; i++)
        r->ents[i].data -= shift;
    r->log_start = upto;
    r->log_start_term = term;
    coord_assert(raft_log_term(r, upto) == term);
    coord_assert(r->n_ents == 0 || r->ents[0].index == upto + 1);
}

void raft_log_reset(struct raft *r, uint64_t index, uint64_t term)
{
    coord_assert(index >= r->commit || index >= r->log_start);
    r->n_ents = 0;
    r->arena_tail = 0;
    r->log_start = index;
    r->log_start_term = term;
    r->persist_from = 0;
    coord_assert(raft_log_last(r) == index);
}

uint64_t raft_log_bytes(const struct raft *r, uint64_t from, uint64_t to)
{
    if (from > to)
        return 0;
    const struct raft_entry *a = raft_log_at(r, from);
    const struct raft_entry *b = raft_log_at(r, to);
    coord_assert(b->data >= a->data);
    return (uint64_t)(b->data + b->len - a->data);
}

/* §5.4.1: a candidate's log is at least as up to date as ours if its last
 * term is higher, or equal with an index at least as high. */
bool raft_log_up_to_date(const struct raft *r, uint64_t index,
                         uint64_t term)
{
    uint64_t last = raft_log_last(r);
    uint64_t last_term = raft_log_term(r, last);
    coord_assert(last_term != 0 || last == 0 || last == r->log_start);
    return term > last_term || (term == last_term && index >= last);
}
