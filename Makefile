# btcflow-nb — the README's two commands are `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install lab test browser widget-js dashboard screenshots bench demo-data clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Debian's Chromium for the browser tests (no browser download; Playwright drives the system one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

## Open JupyterLab on the flow dashboard (demo data when there is no cache or network).
lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/01_flow_dashboard.ipynb

# The kernel-less widget manager for exported HTML (`btcflow-nb render`): npm packages
# @jupyter-widgets/html-manager and requirejs, fetched once into the venv (never into the repo).
WIDGET_JS = $(VENV)/share/btcflow-nb/widget-js/@jupyter-widgets/html-manager/dist/embed-amd.js
widget-js: $(WIDGET_JS)
$(WIDGET_JS): $(VENV)/.installed
	@command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm >/dev/null; }
	$(BIN)/python -m btcflow_nb.render --fetch-widget-js
	touch $@

## Install everything and run the whole test suite.
test: install browser widget-js
	$(BIN)/python -m pytest

## Serve the flow dashboard as a Voila app (notebooks/app.ipynb) on loopback; its Voila options
## (idle-kernel culling ...) live in btcflow_nb/dashboard/app.py, shared with the browser tests.
dashboard: install
	$(BIN)/python -m btcflow_nb.dashboard.app notebooks/app.ipynb

## Regenerate the README pictures (docs/images/*.png) from the exported notebooks in Chromium.
screenshots: install browser widget-js
	$(BIN)/python scripts/make_screenshots.py

## Performance harness (prints a table, writes benchmarks/results/latest.json).
bench: install
	$(BIN)/python -m benchmarks

## Regenerate the bundled synthetic demo data set.
demo-data: install
	$(BIN)/python scripts/make_demo_data.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
