# run.mk -- `make run`: build, then run coord locally in the foreground.
.PHONY: run
run: $(BINS)
	@scripts/run-local.sh
