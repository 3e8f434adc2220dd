# install.mk -- `make install`: coordd, libcoord (static and shared, with
# coord.h and a pkg-config file), the systemd/sysusers/tmpfiles files and
# the example config, and the docs, under $(DESTDIR)$(PREFIX). coordctl and
# its bash completion come from mk/coordctl.mk (install-coordctl), which is
# also a prerequisite of `install`.
#
# The installed library is built from its own objects in $(BUILD)/pic/:
# libcoord/*.c, libcoord/shared/*.c and the recipes (recipes/*.c) compiled
# with -fPIC and -fvisibility=hidden, so libcoord.so exports only the
# COORD_API symbols of coord.h and coord_recipes.h (test_install checks that
# with nm -D). The normal objects are not
# position independent and stay as they are.
#
# The units in deploy/systemd/ name /usr/local/bin/coordd; the installed
# copies name $(PREFIX)/bin/coordd instead.
#
#   make install PREFIX=/usr/local DESTDIR=
#   make install-lib      just build $(BUILD)/pic/libcoord.{a,so}

PIC_DIR := $(BUILD)/pic
PIC_SRC := $(SHARED_SRC) $(CLIENT_SRC) $(RECIPES_SRC)
PIC_OBJ := $(patsubst %.c,$(PIC_DIR)/%.o,$(PIC_SRC))
PIC_LIB_A := $(PIC_DIR)/libcoord.a
PIC_LIB_SO := $(PIC_DIR)/libcoord.so
PIC_PC := $(PIC_DIR)/coord.pc
# What the shared library links against: the codec is coord's own (mp.c),
# so no msgpack-c; libsodium for auth.c.
LIBCOORD_LIBS = $(shell pkg-config --libs libsodium 2>/dev/null) -pthread

$(PIC_DIR)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -fPIC -fvisibility=hidden \
	    -c $< -o $@

$(PIC_LIB_A): $(PIC_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(PIC_LIB_SO): $(PIC_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libcoord.so -Wl,--no-undefined $(LDFLAGS) \
	    -o $@ $^ $(LIBCOORD_LIBS)

# The pkg-config file for PREFIX (rebuilt every install: PREFIX may change).
.PHONY: $(PIC_PC)
$(PIC_PC): libcoord/coord.pc.in
	@mkdir -p $(@D)
	sed 's|@PREFIX@|$(PREFIX)|g' $< >$@

# Built before `make test`, so the install suite only copies.
TEST_EXTRA_BINS += $(PIC_LIB_A) $(PIC_LIB_SO)
TEST_EXTRA_SUITES += install|test/integration/test_install.sh

INSTALL_ROOT = $(DESTDIR)$(PREFIX)
INSTALL_SHARE = $(INSTALL_ROOT)/share/coord

.PHONY: install-lib install-coord
install-lib: $(PIC_LIB_A) $(PIC_LIB_SO)

install: install-coord
install-coord: $(BUILD)/bin/coordd $(PIC_LIB_A) $(PIC_LIB_SO) $(PIC_PC)
	install -D -m 0755 $(BUILD)/bin/coordd $(INSTALL_ROOT)/bin/coordd
	install -D -m 0644 $(PIC_LIB_A) $(INSTALL_ROOT)/lib/libcoord.a
	install -D -m 0755 $(PIC_LIB_SO) $(INSTALL_ROOT)/lib/libcoord.so
	install -D -m 0644 libcoord/include/coord.h \
	    $(INSTALL_ROOT)/include/coord.h
	install -D -m 0644 recipes/include/coord_recipes.h \
	    $(INSTALL_ROOT)/include/coord_recipes.h
	install -D -m 0644 $(PIC_PC) $(INSTALL_ROOT)/lib/pkgconfig/coord.pc
	install -d $(INSTALL_SHARE)/systemd $(INSTALL_SHARE)/sysusers.d \
	    $(INSTALL_SHARE)/tmpfiles.d $(INSTALL_ROOT)/share/doc/coord
	for u in deploy/systemd/*.service; do \
	    sed 's|/usr/local/bin/coordd|$(PREFIX)/bin/coordd|g' "$$u" \
	        >$(INSTALL_SHARE)/systemd/$$(basename "$$u") || exit 1; \
	    chmod 0644 $(INSTALL_SHARE)/systemd/$$(basename "$$u"); \
	done
	install -m 0644 deploy/sysusers.d/coord.conf $(INSTALL_SHARE)/sysusers.d/
	install -m 0644 deploy/tmpfiles.d/coord.conf $(INSTALL_SHARE)/tmpfiles.d/
	install -m 0644 deploy/coordd.conf.example $(INSTALL_SHARE)/
	install -m 0644 README.md docs/*.md $(INSTALL_ROOT)/share/doc/coord/
