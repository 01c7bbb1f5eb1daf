# syntax=docker/dockerfile:1
# Headwater: one image for every process (server, scheduler, worker); see docs/deployment.md.

# --- build: a wheel and its dependencies in a virtualenv -------------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/headwater
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/headwater/bin/pip install --upgrade pip \
 && /opt/headwater/bin/pip install .

# --- runtime: the virtualenv only, as an unprivileged user ---------------------------------
FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="headwater" \
      org.opencontainers.image.description="Self-hostable data integration" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 headwater \
 && useradd --system --uid 10001 --gid headwater --home-dir /var/lib/headwater headwater \
 && mkdir -p /var/lib/headwater \
 && chown headwater:headwater /var/lib/headwater \
 && chmod 0700 /var/lib/headwater
COPY --from=build /opt/headwater /opt/headwater
ENV PATH=/opt/headwater/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HEADWATER_DATA_DIR=/var/lib/headwater \
    HEADWATER_HOST=0.0.0.0 \
    HEADWATER_PORT=8000 \
    HEADWATER_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/headwater
EXPOSE 8000
# The server answers /healthz; scheduler and worker containers override or disable this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HEADWATER_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["headwater"]
CMD ["server"]
