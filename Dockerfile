# RIN gateway image. Built by docker-compose.yml (`docker-compose up -d --build`), or alone:
#   docker build -t rin . && docker run -p 4000:4000 --env-file .env -v "$PWD/data:/app/data" rin
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies and the package first, so editing the config does not reinstall anything.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[all]' \
    && useradd --uid 1000 --create-home --shell /usr/sbin/nologin rin \
    && mkdir -p /app/data \
    && chown rin:rin /app/data

COPY config ./config
COPY scripts ./scripts

# data/ (the spend ledger, the OpenRouter catalogue) is the only place RIN writes.
USER rin
VOLUME ["/app/data"]
EXPOSE 4000

# The slim image has no curl; the standard library does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=4).status != 200)"]

# 0.0.0.0: inside a container the published port reaches RIN only on the container's own interface.
CMD ["rin", "serve", "--host", "0.0.0.0", "--port", "4000", "--config", "config/litellm/config.yaml"]
