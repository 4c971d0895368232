# segvol — the two commands are `make run` and `make test` (see README.md).
# Both install the Debian packages segvol needs when they are missing, then build.

SHELL := /bin/bash
DEBS := libopenblas-dev libnifti-dev libnifti2-dev libdcmtk-dev libsystemd-dev \
        libopenjp2-7-dev libpng-dev zlib1g-dev libdeflate-dev pkg-config dcmtk
SWIFT ?= swift
CONFIG ?= release
BUILD_FLAGS := -c $(CONFIG)
BIN = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/segvol
CORPUS ?= ../shared/corpus
DEMO ?= demo

.PHONY: all deps build run test clean

all: build

## deps: apt-get install the Debian packages that are missing (uses sudo when not root).
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "segvol: installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

## run: convert the sample DICOM series (the daemon's demo site replaces this in a later issue).
run: build
	@mkdir -p $(DEMO)
	$(BIN) convert $(CORPUS)/dicom/F01_ct_abdomen_20slice_j2k_overlapping -o $(DEMO)/F01_ct.nii.gz
	$(BIN) info $(DEMO)/F01_ct.nii.gz

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel

clean:
	rm -rf .build $(DEMO)
