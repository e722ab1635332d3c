# syntax=docker/dockerfile:1
# The streamapp image (worker, learner, CLI), used by docker-compose.yml and deploy/k8s/.
# Two stages: Annoy has no Linux wheel on PyPI for CPython 3.11, so every wheel is built where a
# C++ compiler is; the runtime stage installs only those wheels (no compiler, no network) and
# runs as an unprivileged user. tests/unit/test_dockerfile.py checks this file statically.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The compiler follows the base image's Debian release; it never reaches the runtime stage.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY streamapp ./streamapp
# Every dependency at the version constraints.txt pins: the one CI tested.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM ${PYTHON_IMAGE} AS runtime
# The key folder exists in the image, owned by the user, so a volume mounted there (compose's
# api-keys) starts owned by it too.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/streamapp --create-home \
      --shell /usr/sbin/nologin streamapp \
 && install -d -o streamapp -g streamapp -m 0700 /var/lib/streamapp/api-keys
COPY --from=build /wheels /wheels
# Only the wheels built above can be installed (--no-index): the build stage fixed every version.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links /wheels streamapp \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/streamapp
ENV PYTHONUNBUFFERED=1 \
    STREAMAPP_DATADIR=/var/lib/streamapp/faust \
    STREAMAPP_DATASETS_DIR=/shared/datasets
ENTRYPOINT ["streamapp"]
CMD ["worker"]
