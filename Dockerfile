# LiveGate worker image: `livegate worker` by default; any `livegate …` command otherwise
# (docker compose runs the simulator and the one-shot init from the same image).
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY agents ./agents
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVEGATE_POLICY=/app/config/policy.yaml \
    LIVEGATE_WEB_HOST=0.0.0.0 \
    LIVEGATE_WEB_PORT=6066 \
    LIVEGATE_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels livegate \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /var/lib/livegate --create-home livegate
COPY config /app/config
# Faust keeps its data directory under the working directory.
WORKDIR /var/lib/livegate
USER livegate
EXPOSE 6066
ENTRYPOINT ["livegate"]
CMD ["worker", "--loglevel", "info"]
