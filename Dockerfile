# The ledger service image (see docker-compose.yml). Servers come from LEDGER_DATABASE_URL and
# LEDGER_KAFKA_BOOTSTRAP: the embedded ones (the [embedded] extra) are not installed here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEDGER_DATA_DIR=/tmp/ledger

WORKDIR /app
# The runtime dependencies at the versions (and file hashes) of requirements.lock (`make
# lock`), in a layer of their own that a code change does not rebuild; then the ledger alone.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY events ./events
COPY projections ./projections
COPY services ./services
RUN pip install --no-deps . \
    && pip check \
    && useradd --system --uid 10001 --no-create-home ledger

USER ledger
EXPOSE 8080
CMD ["ledger", "serve"]
