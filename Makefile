# segvol — the two commands are `make run` and `make test` (see README.md).
# Both install the Debian packages segvol needs when they are missing, then build.

SHELL := /bin/bash
DEBS := libopenblas-dev libnifti-dev libnifti2-dev libdcmtk-dev libsystemd-dev \
        libopenjp2-7-dev libpng-dev zlib1g-dev libdeflate-dev pkg-config dcmtk
# What only the tests use: DCMTK's tools make transfer-syntax variants, systemd-analyze and a
# real journald / user manager check the units, python3 runs the shared sd_notify listener.
TEST_DEBS := systemd python3 gzip util-linux zip
SWIFT ?= swift
CONFIG ?= release
BUILD_FLAGS := -c $(CONFIG)
BIN = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/segvol
CORPUS ?= ../shared/corpus

# Install locations (FHS). `make install PREFIX=/usr UNITDIR=/usr/lib/systemd/system` for a
# package; DESTDIR stages everything under another root.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/segvol
DOCDIR ?= $(PREFIX)/share/doc/segvol
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
TMPFILESDIR ?= $(SYSCONFDIR)/tmpfiles.d
# The paths the shipped units and configuration name, rewritten to the ones above.
UNIT_SED = -e 's\#/usr/local/bin/segvol\#$(BINDIR)/segvol\#g' -e 's\#/usr/local/share/doc/segvol\#$(DOCDIR)\#g' \
           -e 's\#/etc/segvol/segvol.toml\#$(SYSCONFDIR)/segvol/segvol.toml\#g' -e 's\#/usr/local/share/segvol\#$(DATADIR)\#g'

.PHONY: all deps test-deps install-debs build run test clean install

all: build

## deps: apt-get install the Debian packages that are missing (uses sudo when not root).
deps:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(DEBS)"

test-deps: deps
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(TEST_DEBS)"

install-debs:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "segvol: installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

## run: the embedded default: a demo site under ./var, a phantom thigh DICOM series and calf NIfTI
## dropped into its inboxes, `segvol serve` until both are done, then where the CSV and QC are.
run: build
	Scripts/demo-site.sh $(BIN)

test: test-deps
	$(SWIFT) build --build-tests
	SEGVOL_CORPUS=$(abspath $(CORPUS)) $(SWIFT) test --skip-build --parallel

## install: binary, systemd units, sysusers.d/tmpfiles.d snippets, the default configuration
## (never overwriting an existing /etc/segvol/segvol.toml), the model and the operations guide.
install: build
	install -Dm755 $(BIN) $(DESTDIR)$(BINDIR)/segvol
	for unit in segvol.service segvol-train.service segvol-train.timer; do \
	  sed $(UNIT_SED) systemd/$$unit > systemd/.$$unit.install && \
	  install -Dm644 systemd/.$$unit.install $(DESTDIR)$(UNITDIR)/$$unit && rm -f systemd/.$$unit.install || exit 1; \
	done
	install -Dm644 systemd/segvol.sysusers $(DESTDIR)$(SYSUSERSDIR)/segvol.conf
	install -Dm644 systemd/segvol.tmpfiles $(DESTDIR)$(TMPFILESDIR)/segvol.conf
	sed $(UNIT_SED) Config/segvol.toml > Config/.segvol.toml.install
	install -Dm644 Config/.segvol.toml.install $(DESTDIR)$(DATADIR)/segvol.toml.default
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/segvol/segvol.toml ]; then \
	  echo "segvol: keeping $(DESTDIR)$(SYSCONFDIR)/segvol/segvol.toml (the new default is $(DATADIR)/segvol.toml.default)"; \
	else install -Dm644 Config/.segvol.toml.install $(DESTDIR)$(SYSCONFDIR)/segvol/segvol.toml; fi
	rm -f Config/.segvol.toml.install
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/segvol/labels.toml ]; then \
	  echo "segvol: keeping $(DESTDIR)$(SYSCONFDIR)/segvol/labels.toml"; \
	else install -Dm644 Config/labels.toml $(DESTDIR)$(SYSCONFDIR)/segvol/labels.toml; fi
	@if [ -f Models/default/plan.json ]; then \
	  mkdir -p $(DESTDIR)$(DATADIR)/models/default && cp -R Models/default/. $(DESTDIR)$(DATADIR)/models/default/; fi
	install -Dm644 docs/operations.md $(DESTDIR)$(DOCDIR)/operations.md
	@echo "segvol installed. As root: systemd-sysusers; systemd-tmpfiles --create segvol.conf;"
	@echo "  segvol check-config --config $(SYSCONFDIR)/segvol/segvol.toml; systemctl daemon-reload; systemctl enable --now segvol"

clean:
	rm -rf .build var
