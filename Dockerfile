# LiveGate worker image: `livegate worker` by default; any `livegate …` command otherwise
# (docker compose and the Helm chart run the console, the simulator and the one-shot init
# from the same image). The runtime set is requirements/runtime.txt: exact versions with
# hashes (`make lock`), no plotting, no test tools.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/livegate
COPY requirements/runtime.txt /src/requirements/runtime.txt
RUN /opt/livegate/bin/pip install --no-cache-dir --require-hashes \
      -r /src/requirements/runtime.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY agents ./agents
RUN /opt/livegate/bin/pip install --no-cache-dir --no-deps . \
 && /opt/livegate/bin/pip check

FROM python:3.11-slim
ENV PATH=/opt/livegate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVEGATE_POLICY=/app/config/policy.yaml \
    LIVEGATE_WEB_HOST=0.0.0.0 \
    LIVEGATE_WEB_PORT=6066 \
    LIVEGATE_DATA_DIR=/var/lib/livegate/data \
    LIVEGATE_LOG_FORMAT=json
COPY --from=build /opt/livegate /opt/livegate
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/livegate --create-home livegate \
 && mkdir -p /var/lib/livegate/data && chown 10001:10001 /var/lib/livegate/data
COPY config /app/config
# Faust keeps its data directory under LIVEGATE_DATA_DIR (a volume in compose and the chart).
WORKDIR /var/lib/livegate
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE 6066
ENTRYPOINT ["livegate"]
CMD ["worker", "--loglevel", "info"]
