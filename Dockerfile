# The ledger service image (see docker-compose.yml). Servers come from LEDGER_DATABASE_URL and
# LEDGER_KAFKA_BOOTSTRAP: the embedded ones (the [embedded] extra) are not installed here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEDGER_DATA_DIR=/tmp/ledger

WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY projections ./projections
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home ledger

USER ledger
EXPOSE 8080
CMD ["ledger", "serve"]
