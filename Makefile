# DentalOsteo developer entry points. `make run` and `make test` work on a fresh machine
# (Python 3.11 + pip + apt): they create .venv and install what they need.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
EXTRAS  ?= ml,gui,test
comma   := ,
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)-$(subst $(comma),_,$(EXTRAS))
PYTEST_ARGS ?=

.PHONY: run test venv sysdeps lint typecheck importlint model bench realism realism-yardstick fuzz bundle bundle-test deb dmg clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python 3.11" >&2; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh

## Start the app (headless on a machine without a display: screens the sample, writes a PDF)
run: venv
	$(BIN)/dentalosteo-gui $(ARGS)

## Run the whole test suite (installs system packages it needs when run as root)
test: sysdeps venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check dentalosteo_gui tests bench

typecheck: venv
	$(BIN)/mypy dentalosteo_gui/core

importlint: venv
	$(BIN)/lint-imports

## Train the bundled default model on phantoms (CPU, < 60 min on 2 cores).
## PHANTOM_STYLE: v1 (the committed packs' training data), v2 or mix (half each): `make model PHANTOM_STYLE=v2`
PHANTOM_STYLE ?= v1
model: venv
	$(BIN)/python -m dentalosteo_gui.ml.bundle_models --out models --style $(PHANTOM_STYLE)

bench: venv
	$(BIN)/python bench/run_bench.py

## Realism of the phantoms against the real panoramics in ../shared (issue 16; not a test):
## 60 phantoms of REALISM_STYLE (v2 by default; seed 101), JSON + distribution plots + montage in build/realism/
REAL_DIR ?= ../shared/realdata/abdi_dev
REALISM_STYLE ?= v2
realism: venv
	@test -d $(REAL_DIR) || { echo "realism: $(REAL_DIR) not found (the real images live outside the repo)"; exit 2; }
	rm -rf build/realism/phantoms
	$(BIN)/python -m dentalosteo_gui.cli.main phantoms --n 60 --seed 101 --style $(REALISM_STYLE) --out build/realism/phantoms > /dev/null
	$(BIN)/python bench/realism.py --real $(REAL_DIR) --phantoms build/realism/phantoms --anatomy \
		--plots build/realism/plots --montage build/realism/montage.png --out build/realism/realism.json > /dev/null
	@$(BIN)/python -c "import json; d = json.load(open('build/realism/realism.json')); print(json.dumps({k: d[k] for k in ('discriminator_auc', 'discriminator_auc_without_device_noise', 'cortex_contrast_sd')}))"

## The discriminator's scale: real half A against real half B through other acquisition chains
realism-yardstick: venv
	@test -d $(REAL_DIR) || { echo "realism-yardstick: $(REAL_DIR) not found (the real images live outside the repo)"; exit 2; }
	$(BIN)/python bench/realism_yardstick.py --real $(REAL_DIR) --out build/realism/yardstick.json > /dev/null
	@$(BIN)/python -c "import json; d = json.load(open('build/realism/yardstick.json')); print(json.dumps({k: [v['discriminator_auc'], v['discriminator_auc_without_device_noise']] for k, v in d['chains'].items()}))"

fuzz: venv
	FUZZ_EXAMPLES=20000 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest tests/test_fuzz.py -q

## One-folder PyInstaller bundle in dist/DentalOsteo (CPU-heavy: ~10 min; runs under nice)
bundle: venv
	@$(BIN)/python -c "import PyInstaller" 2>/dev/null || $(BIN)/python -m pip install --quiet 'pyinstaller>=6.10,<7'
	nice -n 10 $(BIN)/pyinstaller --noconfirm --clean --log-level WARN packaging/dentalosteo.spec --distpath dist --workpath build/pyinstaller
	@du -sh dist/DentalOsteo

## Smoke-test the bundle (builds it first only when dist/DentalOsteo is missing; `make bundle bundle-test` for a fresh one)
bundle-test:
	@test -x dist/DentalOsteo/DentalOsteo || $(MAKE) bundle
	bash packaging/smoke_test.sh dist/DentalOsteo

## Debian package dist/dentalosteo_<version>_<arch>.deb from the bundle (installs to /opt/dentalosteo)
deb:
	@test -x dist/DentalOsteo/DentalOsteo || $(MAKE) bundle
	bash packaging/build_deb.sh dist/DentalOsteo

## macOS disk image (run on a Mac: builds DentalOsteo.app with PyInstaller, then hdiutil)
dmg:
	bash packaging/build_dmg.sh

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
