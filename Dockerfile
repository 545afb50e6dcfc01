# One image for every driftline service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install --no-cache-dir .
COPY config ./config
COPY schemas ./schemas
ENTRYPOINT ["driftline"]
CMD ["--help"]
