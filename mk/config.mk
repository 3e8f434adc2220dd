# config.mk -- the files generated from coordd/config.h's option table.
# Included by the Makefile. test_config (run by `make test`) fails while
# deploy/coordd.conf.example or the option table in docs/configuration.md
# disagree with the table; this target rewrites both:
#
#   make config-files

.PHONY: config-files
config-files: $(BUILD)/test/unit/test_config
	$(BUILD)/test/unit/test_config --write deploy/coordd.conf.example \
	    docs/configuration.md

# deploy/'s systemd unit, sysusers and tmpfiles files, checked by systemd.
TEST_EXTRA_SUITES += deploy:units|deploy/check-units.sh
