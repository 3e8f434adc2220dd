# run.mk -- `make run`: build the programs, then run coord locally in the
# foreground (scripts/run-local.sh). Deps are installed first by the
# order-only `deps` prerequisite of every object.
.PHONY: run
run:
	@$(MAKE) --no-print-directory $(BUILD)/bin/coordd \
		$(if $(wildcard coordctl/*.c),$(BUILD)/bin/coordctl)
	@scripts/run-local.sh
