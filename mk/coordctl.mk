# coordctl.mk -- extra test wiring for coordctl (the Makefile itself builds
# coordctl/*.c into $(BUILD)/bin/coordctl). The integration suite
# test/integration/test_coordctl runs automatically (integ: and integ-asan:
# with an ASan coordd); this fragment adds a third run where coordctl
# itself is the ASan+UBSan build, so its own memory errors and leaks fail
# `make test`.
#
#   make coordctl-test   just the coordctl integration suite

ASAN_EXTRA_BINS += build/asan/bin/coordctl
TEST_EXTRA_SUITES += asan:coordctl-client|COORDCTL_BIN=build/asan/bin/coordctl $(BUILD)/test/integration/test_coordctl

.PHONY: coordctl-test
coordctl-test: $(BUILD)/bin/coordctl $(BUILD)/bin/coordd \
               $(BUILD)/test/integration/test_coordctl
	$(BUILD)/test/integration/test_coordctl

# `make install` installs coordctl and its bash completion (a rule with no
# recipe, so other fragments can hang their own install steps on it too).
.PHONY: install-coordctl
install: install-coordctl
install-coordctl: $(BUILD)/bin/coordctl
	install -D -m 0755 $(BUILD)/bin/coordctl $(DESTDIR)$(PREFIX)/bin/coordctl
	install -D -m 0644 deploy/coordctl.bash-completion \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/coordctl
