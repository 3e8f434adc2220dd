# admin.mk -- test wiring for the admin operations (coordd/admin.c,
# libcoord/admin.c, coordctl/cmd_admin.c). test/integration/test_admin runs
# automatically (integ: and integ-asan: with an ASan coordd); this adds a
# run where coordctl itself is the ASan+UBSan build, so memory errors and
# leaks in its admin commands fail `make test`.
#
#   make admin-test   just the admin integration suite

TEST_EXTRA_SUITES += asan:admin-coordctl|COORDCTL_BIN=build/asan/bin/coordctl $(BUILD)/test/integration/test_admin

.PHONY: admin-test
admin-test: $(BUILD)/bin/coordctl $(BUILD)/bin/coordd \
            $(BUILD)/test/integration/test_admin
	$(BUILD)/test/integration/test_admin
