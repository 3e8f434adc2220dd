/* verify.c -- tree_verify(): recomputes every derived fact of a tree from
 * scratch (counts, byte budget, digest, treap order and heap property,
 * parent links, ephemeral and cleanup sets) and compares. O(n): for tests
 * and debugging, never called by apply. Reads only; no allocation.
 */
#include "tree_int.h"

#include "libcoord/shared/check.h"

struct verify_acc {
    uint64_t nodes, bytes, digest;
};

/* Checks one treap subtree under parent p; counts its nodes into *kids. */
static int verify_kids(const struct tree_node *p, const struct tree_node *n,
                       uint32_t *kids)
{
    for (; n != NULL; n = n->right) {
        if (n->parent != p)
            return COORD_ECORRUPT;
        if ((n->left && (n->left->up != n || n->left->hash > n->hash)) ||
            (n->right && (n->right->up != n || n->right->hash > n->hash)))
            return COORD_ECORRUPT;
        int err = verify_kids(p, n->left, kids);
        if (err != 0)
            return err;
        (*kids)++;
    }
    return 0;
}

static int verify_node(const struct tree *t, const struct tree_node *n,
                       struct verify_acc *a)
{
    uint32_t kids = 0;
    int err = verify_kids(n, n->kids, &kids);
    if (err != 0 || kids != n->stat.num_children)
        return COORD_ECORRUPT;
    if (tree_lookup(t, n->path, n->path_len) != n)
        return COORD_ECORRUPT;
    if (n->dhash != tree_hash_bytes(n->data, n->stat.data_length, 1))
        return COORD_ECORRUPT;
    /* In-order walk must be strictly increasing. */
    const struct tree_node *prev = NULL;
    for (const struct tree_node *c = tree_kids_first_after(n, NULL, 0); c;
         prev = c, c = tree_kids_next(c))
        if (prev && tree_name_cmp(prev->path + prev->name_off,
                                  prev->path_len - prev->name_off,
                                  c->path + c->name_off,
                                  c->path_len - c->name_off) >= 0)
            return COORD_ECORRUPT;
    if (n->stat.ephemeral_owner != 0) {
        const struct tree_session *s =
            tree_session_find(t, n->stat.ephemeral_owner);
        if (!s || n->lidx >= s->eph.n || s->eph.v[n->lidx] != n || n->kids)
            return COORD_ECORRUPT;
    } else if (n->flags & (TREE_NODE_CONTAINER | TREE_NODE_TTL)) {
        if (n->lidx >= t->cleanup.n || t->cleanup.v[n->lidx] != n)
            return COORD_ECORRUPT;
    }
    a->nodes++;
    a->bytes += (uint64_t)n->path_len + n->stat.data_length +
                TREE_NODE_COST_BYTES;
    a->digest += tree_node_digest(n);
    return 0;
}

static int verify_sessions(const struct tree *t, struct verify_acc *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_sbuckets; i++)
        for (const struct tree_session *s = t->sbuckets[i]; s;
             s = s->hnext, n++) {
            if (s->eph.n != s->n_ephemerals)
                return COORD_ECORRUPT;
            a->digest += tree_session_digest(s);
        }
    return n == t->n_sessions ? 0 : COORD_ECORRUPT;
}

int tree_verify(const struct tree *t)
{
    struct verify_acc a = { 0 };
    const struct tree_node *n = t->root;
    while (n != NULL) {
        int err = verify_node(t, n, &a);
        if (err != 0)
            return err;
        /* Pre-order: first child, else the next sibling up the tree. */
        const struct tree_node *next = tree_kids_first_after(n, NULL, 0);
        for (; next == NULL && n->parent != NULL; n = n->parent)
            next = tree_kids_next(n);
        n = next;
    }
    int err = verify_sessions(t, &a);
    if (err != 0)
        return err;
    if (a.nodes != t->n_nodes || a.bytes != t->bytes_used ||
        a.digest != t->digest)
        return COORD_ECORRUPT;
    coord_assert(t->n_undo == 0);
    return 0;
}
