# metrics.mk -- coordd's metrics endpoint (coordd/metrics.c) links
# libmicrohttpd; every program and test that links libcoordd.a gets it.
# Recursive (+= keeps LDLIBS's flavour) so pkg-config runs after `deps`.
LDLIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null || \
                  echo -lmicrohttpd)
