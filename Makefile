# aiphoto — the one build.  GNU make.
#
#   make            build build/aiphoto-fcgi, build/aiphotoctl and build/aiphoto-dispatch
#   make run        install missing Debian packages, build, run the local stack (Ctrl-C stops it)
#   make test       deps + build + unit tests + fuzz smoke + integration and browser tests, each on a stack of their own
#                   (+ the front-end smoke set through nginx: make integration-front)
#                   (the media tests twice: local store, then S3 through s3rver: make integration-s3),
#                   then two app hosts behind a front (make test-hosts, root)
#   FRONT=nginx make integration   the whole integration suite through nginx instead of lighttpd
#   make lint       clang-format check, cppcheck, banned calls, the H5 pages' JavaScript
#   make asan       unit tests and the integration suite under AddressSanitizer + UBSan
#   make bench      wrk through lighttpd: endpoints as ratios to a bare libfcgi responder
#                   (FRONT=nginx: through nginx, plus both front ends side by side)
#   make install    PREFIX=/usr DESTDIR=… (never strips, never chowns)
#
# Honours CC, CPPFLAGS, CFLAGS, LDFLAGS, PREFIX, DESTDIR.  DEVELOPER=1 (and CI) adds -Werror.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
PKG_CONFIG ?= pkg-config
CC         ?= cc
CFLAGS     ?= -O2 -g
BUILD      ?= build
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# the newest migration this build ships: GET /health/ready wants the database at least there
SCHEMA_VERSION := $(shell ls migrations 2>/dev/null | sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$$/\1/p' | sort -n | tail -n 1)

ifeq ($(CI),true)
DEVELOPER ?= 1
endif

PKGS = fcgi libpq hiredis json-c libjwt libcurl openssl expat vips libarchive
ifneq ($(MAKECMDGOALS),clean)
ifneq ($(shell $(PKG_CONFIG) --exists $(PKGS) 2>/dev/null && echo yes),yes)
$(warning missing development packages: run scripts/deps (needs libfcgi-dev libpq-dev libhiredis-dev libjson-c-dev libjwt-dev libcurl4-openssl-dev libssl-dev libvips-dev libarchive-dev))
endif
endif

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wmissing-declarations -Wpointer-arith -Wcast-qual -Wwrite-strings \
       -Wformat=2 -Wvla -Wno-format-nonliteral
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(if $(filter 1,$(DEVELOPER)),-Werror) \
             -I. $(PKG_CFLAGS) -DAIPHOTO_VERSION='"$(VERSION)"' -DAIPHOTO_SCHEMA_VERSION=$(or $(SCHEMA_VERSION),0) \
             $(CPPFLAGS) $(CFLAGS)
LDLIBS += $(PKG_LIBS)

LIB_SRC   := $(wildcard lib/*.c) $(wildcard lib/wechat/*.c) $(wildcard model/*.c) $(wildcard handlers/*.c) \
             fcgi/router.c fcgi/query.c fcgi/response.c fcgi/routes.c fcgi/superv.c \
             $(wildcard service/*.c) dispatcher/provider.c
# dispatcher/provider.c: the AI provider adapters, pure functions shared by the dispatcher,
# the admin API's AI model test (service/aitest.c) and the unit tests
FCGI_SRC  := fcgi/main.c
CTL_SRC   := $(wildcard ctl/*.c)
DISPATCH_SRC := dispatcher/main.c dispatcher/cloudfetch.c dispatcher/runstats.c
UNIT_SRC  := $(wildcard tests/unit/*.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
FCGI_OBJ  := $(FCGI_SRC:%.c=$(BUILD)/%.o)
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/%.o)
DISPATCH_OBJ := $(DISPATCH_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)
LIBAPP    := $(BUILD)/libaiphoto.a

all: $(BUILD)/aiphoto-fcgi $(BUILD)/aiphotoctl $(BUILD)/aiphoto-dispatch

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# AIPHOTO_SCHEMA_VERSION (the newest migration) is a -D flag: the files that use it are rebuilt
# when a migration is added, through a stamp rewritten only when the number changes.
SCHEMA_STAMP := $(BUILD)/schema-version
SCHEMA_USERS := $(patsubst %.c,$(BUILD)/%.o,$(shell grep -l AIPHOTO_SCHEMA_VERSION $(LIB_SRC) $(FCGI_SRC) $(CTL_SRC) $(DISPATCH_SRC) 2>/dev/null))
$(SCHEMA_STAMP): schema-version-check
	@:
.PHONY: schema-version-check
schema-version-check:
	@mkdir -p $(BUILD)
	@echo $(or $(SCHEMA_VERSION),0) | cmp -s - $(SCHEMA_STAMP) || echo $(or $(SCHEMA_VERSION),0) >$(SCHEMA_STAMP)
$(SCHEMA_USERS): $(SCHEMA_STAMP)

$(LIBAPP): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/aiphoto-fcgi: $(FCGI_OBJ) $(LIBAPP)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(FCGI_OBJ) $(LIBAPP) $(LDLIBS)

$(BUILD)/aiphotoctl: $(CTL_OBJ) $(LIBAPP)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CTL_OBJ) $(LIBAPP) $(LDLIBS)

$(BUILD)/aiphoto-dispatch: $(DISPATCH_OBJ) $(LIBAPP)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(DISPATCH_OBJ) $(LIBAPP) $(LDLIBS) -lm

CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/unit-tests: $(UNIT_OBJ) $(LIBAPP)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(LIBAPP) $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/bench-ceiling: bench/ceiling.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/bench-thumbs: bench/thumbs.c $(LIBAPP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAPP) $(LDLIBS)

# Fuzz harnesses: clang + libFuzzer, each run briefly by `make test` (FUZZ_SECONDS each).
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 5
FUZZ_LIB_SRC := lib/arena.c lib/xalloc.c lib/errors.c lib/log.c lib/config.c lib/token.c lib/crypto.c \
                lib/role.c \
                lib/multipart.c lib/image.c lib/imgproc.c \
                lib/jsonx.c lib/redis.c lib/metrics.c lib/clouddoc.c fcgi/query.c fcgi/router.c fcgi/response.c \
                $(wildcard lib/wechat/wxxml.c lib/wechat/wxcrypt.c lib/wechat/wxpay.c)
FUZZ_PKGS    := json-c libjwt hiredis openssl expat vips
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. $(shell $(PKG_CONFIG) --cflags $(FUZZ_PKGS)) -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $^ \
	    $(shell $(PKG_CONFIG) --libs $(FUZZ_PKGS))

.PHONY: all run test unit fuzz integration integration-front integration-s3 test-hosts browser lint \
        asan bench install uninstall clean deps

deps:
	@scripts/deps

run: deps
	$(MAKE) all
	scripts/stack run

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	    echo "fuzz: $$f ($(FUZZ_SECONDS)s)"; \
	    mkdir -p $$f.corpus; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=0 \
	        $$f.corpus tests/fuzz/corpus/$$(basename $$f) 2>$(BUILD)/fuzz/$$(basename $$f).log \
	        || { tail -n 40 $(BUILD)/fuzz/$$(basename $$f).log; exit 1; }; \
	done

integration: all
	scripts/test-integration

# The shipped nginx site proven on every run: `nginx -t` of nginx/aiphoto.conf and the tests
# marked "front" (health, a page, a call with a token, a signed media file, a body over the
# limit) through a stack of their own with nginx in front.
integration-front: all
	FRONT=nginx AIPHOTO_VAR=$(CURDIR)/var/test-nginx PORT=18380 scripts/test-integration -m front

# The media paths again with MEDIA_BACKEND=s3: the stack runs s3rver (docs/storage.md).
INTEGRATION_S3_TESTS ?= test_media or test_uploads or test_content_check or test_cloudfile \
                        or (test_admin_content and thumbnail) or (test_frontend and media) \
                        or (test_dispatch and store_down)
integration-s3: all
	MEDIA_BACKEND=s3 scripts/test-integration -k "$(INTEGRATION_S3_TESTS)"

# The H5 pages in headless Chromium (Playwright) against a stack of their own.
browser: all
	tests/browser/run

# Two app hosts in network namespaces behind a front lighttpd (scripts/hosts, docs/scaling.md),
# sharing the S3 media store (s3rver) unless MEDIA_BACKEND is set (MEDIA_BACKEND=local: one
# directory). Root only; where network namespaces cannot be made it fails and says why.
# About 1.5 minutes.
test-hosts: all
	MEDIA_BACKEND=$${MEDIA_BACKEND:-s3} /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	    -o 'markers=front: the front-end smoke set of the integration modules imported here' tests/hosts

test: deps
	$(MAKE) all $(BUILD)/unit-tests
	$(MAKE) unit
	$(MAKE) fuzz
	$(MAKE) integration
	$(MAKE) integration-front
	$(MAKE) integration-s3
	$(MAKE) test-hosts
	$(MAKE) browser

LINT_SRC := $(wildcard lib/*.[ch] lib/wechat/*.[ch] fcgi/*.[ch] handlers/*.[ch] model/*.[ch] service/*.[ch] ctl/*.[ch] dispatcher/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c bench/*.c)
lint:
	clang-format --dry-run --Werror $(LINT_SRC)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	    --inline-suppr --suppress=missingIncludeSystem -I. $(filter %.c,$(LINT_SRC))
	@if grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)[[:space:]]*\(' $(LINT_SRC); then \
	    echo "lint: banned calls above"; exit 1; fi
	@if grep -nE 'printf[[:space:]]*\(.*\b(SELECT|INSERT|UPDATE|DELETE)\b' $(LINT_SRC); then \
	    echo "lint: SQL built with printf above"; exit 1; fi
	@if grep -lE '#include[[:space:]]*<fcgi_stdio\.h>' $(LINT_SRC); then echo "lint: fcgi_stdio.h is banned"; exit 1; fi
	@if grep -lE '#include[[:space:]]*<fcgiapp\.h>' $(LINT_SRC) | grep -v '^fcgi/\|^bench/'; then \
	    echo "lint: fcgiapp.h outside fcgi/"; exit 1; fi
	scripts/build-pages --check
	scripts/lint-pages
	@echo "lint: ok"

# Sanitizer build in its own directory; the integration suite then runs the sanitized workers.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan:
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	    all build-asan/unit-tests
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1 build-asan/unit-tests
	rm -rf build-asan/reports && mkdir -p build-asan/reports
	ASAN_OPTIONS=detect_leaks=1:log_path=$(CURDIR)/build-asan/reports/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build-asan/reports/ubsan \
	AIPHOTO_BUILD=build-asan AIPHOTO_VAR=$(CURDIR)/var/asan PORT=18280 scripts/test-integration
	@if [ -n "$$(ls build-asan/reports)" ]; then cat build-asan/reports/*; \
	    echo "asan: sanitizer reports above"; exit 1; fi
	@if grep -E 'runtime error|ERROR: (Address|Leak)Sanitizer' var/asan/log/fcgi.log; then \
	    echo "asan: sanitizer reports in the workers' log above"; exit 1; fi
	@echo "asan: no sanitizer reports"

$(BUILD)/bench-metrics: bench/metricscost.c $(LIBAPP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAPP) $(LDLIBS)

bench: all $(BUILD)/bench-ceiling $(BUILD)/bench-metrics $(BUILD)/bench-thumbs
	bench/run

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/aiphoto/migrations \
	    $(DESTDIR)$(DATADIR)/aiphoto/wechat-pages $(DESTDIR)$(DATADIR)/aiphoto/admin-console \
	    $(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available
	install -m 0755 $(BUILD)/aiphoto-fcgi $(DESTDIR)$(SBINDIR)/aiphoto-fcgi
	install -m 0755 $(BUILD)/aiphotoctl $(DESTDIR)$(BINDIR)/aiphotoctl
	install -m 0755 $(BUILD)/aiphoto-dispatch $(DESTDIR)$(BINDIR)/aiphoto-dispatch
	install -m 0644 migrations/*.sql $(DESTDIR)$(DATADIR)/aiphoto/migrations/
	cp -R wechat-pages/. $(DESTDIR)$(DATADIR)/aiphoto/wechat-pages/
	cp -R admin-console/. $(DESTDIR)$(DATADIR)/aiphoto/admin-console/
	install -m 0644 lighttpd/aiphoto.conf $(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available/50-aiphoto.conf
	install -d $(DESTDIR)$(DATADIR)/aiphoto/nginx
	install -m 0644 nginx/aiphoto.conf $(DESTDIR)$(DATADIR)/aiphoto/nginx/aiphoto.conf
	install -d $(DESTDIR)$(DATADIR)/aiphoto/lighttpd-errors
	install -m 0644 lighttpd/errors/api-*.html $(DESTDIR)$(DATADIR)/aiphoto/lighttpd-errors/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 systemd/aiphoto-fcgi.service systemd/aiphoto-dispatch.service \
	    systemd/aiphoto-dispatch.timer systemd/aiphoto-backup.service \
	    systemd/aiphoto-backup.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -d $(DESTDIR)$(SYSCONFDIR)/cron.d
	install -m 0644 systemd/aiphoto-dispatch.cron $(DESTDIR)$(SYSCONFDIR)/cron.d/aiphoto
	# the backup's cron line is an alternative to its timer: not active until copied to cron.d
	install -d $(DESTDIR)$(DATADIR)/aiphoto/cron $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0644 systemd/aiphoto-backup.cron $(DESTDIR)$(DATADIR)/aiphoto/cron/aiphoto-backup
	install -m 0644 ops/logrotate/aiphoto $(DESTDIR)$(SYSCONFDIR)/logrotate.d/aiphoto
	install -d $(DESTDIR)$(DATADIR)/aiphoto/prometheus $(DESTDIR)$(DATADIR)/aiphoto/grafana
	install -m 0644 ops/prometheus/aiphoto.rules.yml ops/prometheus/aiphoto.rules.test.yml \
	    $(DESTDIR)$(DATADIR)/aiphoto/prometheus/
	install -m 0644 ops/grafana/aiphoto.json $(DESTDIR)$(DATADIR)/aiphoto/grafana/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/aiphoto-fcgi $(DESTDIR)$(BINDIR)/aiphotoctl \
	    $(DESTDIR)$(BINDIR)/aiphoto-dispatch $(DESTDIR)$(SYSCONFDIR)/cron.d/aiphoto \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/aiphoto-dispatch.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/aiphoto-dispatch.timer \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/aiphoto-backup.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/aiphoto-backup.timer \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/aiphoto \
	    $(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available/50-aiphoto.conf \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/aiphoto-fcgi.service
	rm -rf $(DESTDIR)$(DATADIR)/aiphoto

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
