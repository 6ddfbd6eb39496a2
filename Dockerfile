# The ledger service image (see docker-compose.yml). Servers come from LEDGER_DATABASE_URL and
# LEDGER_KAFKA_BOOTSTRAP: the embedded ones (the [embedded] extra) are not installed here.

# The wheel, built as `make wheel-check` builds (and checks) it: the image installs the same
# artifact users do, package data included, never the source tree.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY events ./events
COPY projections ./projections
COPY services ./services
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEDGER_DATA_DIR=/tmp/ledger

WORKDIR /app
# The runtime dependencies at the versions (and file hashes) of requirements.lock (`make
# lock`), in a layer of their own that a code change does not rebuild; then the ledger's
# wheel alone.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/billing_ledger-*.whl \
    && rm -rf /tmp/wheels \
    && pip check \
    && useradd --system --uid 10001 --no-create-home ledger

USER ledger
EXPOSE 8080
CMD ["ledger", "serve"]
