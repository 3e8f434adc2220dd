/* test_notify.c -- coordd speaks systemd's notify protocol: the test plays
 * systemd's side with a datagram socket in NOTIFY_SOCKET and a
 * WATCHDOG_USEC, and checks that coordd sends READY=1 once it serves, and
 * WATCHDOG=1 repeatedly at least twice per watchdog interval (the shipped
 * unit sets WatchdogSec=; without the pings systemd would kill it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test/lib/proc.h"

static void ready_and_watchdog_pings(void **state)
{
    (void)state;
    char path[] = "/tmp/coord-notify-XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    close(tmp);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "400000", 1); /* 400 ms: pings every 200 */
    struct tproc p;
    tproc_init(&p, "127.0.0.1");
    assert_int_equal(tproc_start(&p, 10000), 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    int ready = 0, pings = 0;
    int64_t t0 = tproc_now_ms();
    while (tproc_now_ms() - t0 < 1500) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        ready += strstr(buf, "READY=1") != NULL;
        pings += strstr(buf, "WATCHDOG=1") != NULL;
    }
    print_message("READY %d, WATCHDOG pings in 1.5 s: %d\n", ready, pings);
    assert_int_equal(ready, 1);
    assert_true(pings >= 5); /* every ~200 ms */
    assert_int_equal(tproc_stop(&p, 10000), 0);
    tproc_cleanup(&p);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_and_watchdog_pings),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
