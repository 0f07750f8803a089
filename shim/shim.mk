# The native shim: Bacula File Daemon plugins podheitor-<name>-fd.so (included by Makefile).
#
#   make plugin PLUGINDIR=/usr/lib/bacula            build for Debian 12 (Bacula 9.6, API 14)
#   make plugin PLUGINDIR=... BACULA_API=23          build for Bacula 15 (22 for 11.3/13.x)
#   make shim-abi-check                              compile all API versions (layout asserts)
#
# One shared object is built per API version and installed once per plugin name, as
# separate copies: the plugin learns its name from its own file name, and glibc would
# hand back the same instance for hard/symbolic links to one file.

BACULA_API ?= 14
PLUGINDIR ?= build/plugins
SHIM_NAMES ?= posix hpc kvm cloudstack nutanix mongodb
SHIM_CC ?= gcc
SHIM_SRC := shim/podheitor-fd.c shim/ptcomm.c
SHIM_HDR := shim/bacula_abi.h shim/ptcomm.h
SHIM_CFLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -pthread \
	-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-format-nonliteral
SHIM_LDFLAGS := -shared -pthread -Wl,-z,defs -Wl,-z,now -Wl,-z,relro -Wl,--as-needed
SHIM_OUT = build/shim/api$(1)/podheitor-fd.so

.PHONY: plugin shim shim-abi-check shim-clean

$(call SHIM_OUT,%): $(SHIM_SRC) $(SHIM_HDR) shim/shim.mk
	@mkdir -p $(dir $@)
	$(SHIM_CC) $(SHIM_CFLAGS) -DBACULA_API=$* $(SHIM_LDFLAGS) -o $@ $(SHIM_SRC) -ldl

shim: $(call SHIM_OUT,$(BACULA_API))

shim-abi-check: $(call SHIM_OUT,14) $(call SHIM_OUT,22) $(call SHIM_OUT,23)

# The launcher runs this checkout's backend, so the venv must exist ($(STAMP)).
plugin: $(STAMP) $(call SHIM_OUT,$(BACULA_API))
	install -d '$(PLUGINDIR)'
	for n in $(SHIM_NAMES); do \
	  install -m 0644 $(call SHIM_OUT,$(BACULA_API)) '$(PLUGINDIR)'/podheitor-$$n-fd.so || exit 1; \
	done
	printf '#!/bin/sh\n# podheitor backend launcher, started by podheitor-*-fd.so\nexec %s "$$@"\n' \
	  '$(abspath $(BIN))/podheitor-backend' > '$(PLUGINDIR)/podheitor-backend'
	chmod 0755 '$(PLUGINDIR)/podheitor-backend'

shim-clean:
	rm -rf build/shim
