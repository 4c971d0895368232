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

SAMPLE := $(CORPUS)/dicom/F01_ct_abdomen_20slice_j2k_overlapping

## run: convert the sample DICOM series and print its geometry (the daemon's demo site replaces
## this in a later issue). Without the shared corpus, a synthetic series written by DCMTK is used.
run: build
	@mkdir -p $(DEMO)
	@if [ -d "$(SAMPLE)" ]; then src="$(SAMPLE)"; else \
	  echo "segvol: $(SAMPLE) not found; writing a synthetic 512x512x32 MR series instead"; \
	  src="$(DEMO)/synthetic-dicom"; $(BIN) bench io --repeats 1 --keep-series "$$src" --no-compare >/dev/null || exit 1; fi; \
	$(BIN) convert "$$src" -o $(DEMO)/sample.nii.gz && $(BIN) info $(DEMO)/sample.nii.gz

test: deps
	$(SWIFT) build --build-tests
	SEGVOL_CORPUS=$(abspath $(CORPUS)) $(SWIFT) test --skip-build --parallel

clean:
	rm -rf .build $(DEMO)
