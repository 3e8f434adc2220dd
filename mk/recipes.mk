# recipes.mk -- the recipes' public header directory on the include path
# and the example programs recipes/examples/*.c (built by `make`), each
# linked with librecipes, libcoord and the shared archive.

CPPFLAGS += -Irecipes/include

RECIPE_EXAMPLES := $(patsubst recipes/examples/%.c,$(BUILD)/bin/examples/%,\
                     $(wildcard recipes/examples/*.c))

$(BUILD)/bin/examples/%: $(BUILD)/recipes/examples/%.o $(A_RECIPES) \
                         $(A_CLIENT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXTRA_BINS += $(RECIPE_EXAMPLES)
