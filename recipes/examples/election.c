/* election.c -- example: campaign in the election /examples/leader with
 * this process's name as the value, act as leader once elected (the term
 * is the fencing token for what the leader writes), then resign; an
 * observer read shows the current leader. Usage: election [servers]
 * [name]. An example of the recipes API (coord_recipes.h), not part of
 * any library; it must stay small. */
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "coord_recipes.h"

static void elected(void *data, uint64_t term)
{
    printf("%s elected, term %llu\n", (const char *)data,
           (unsigned long long)term);
}

int main(int argc, char **argv)
{
    struct coord_options o;
    coord_options_init(&o);
    if (argc > 1)
        o.servers = argv[1];
    const char *name = argc > 2 ? argv[2] : "example";
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return 1;
    struct coord_election *e = NULL;
    uint64_t term = 0;
    int rc = coord_election_new(&e, c, "/examples/leader");
    if (rc == 0)
        rc = coord_election_campaign(e, name, strlen(name), 30000, &term,
                                     elected, (void *)name);
    if (rc == 0) {
        struct coord_leader_info li;
        if (coord_election_leader(c, "/examples/leader", NULL, &li) == 0) {
            printf("observer sees leader %.*s, term %llu\n", (int)li.len,
                   (const char *)li.value, (unsigned long long)li.term);
            coord_free_mem(li.value);
        }
        rc = coord_election_resign(e);
    } else {
        printf("campaign: %s\n", coord_strerror(rc));
    }
    coord_election_free(e);
    coord_close(c);
    return rc == 0 ? 0 : 1;
}
