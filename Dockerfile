# One image for every driftline service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY services ./services
# constraints.txt pins every dependency to the versions the test suite passed with (`./run lock` writes it).
# The package carries what the services read (services/driftline/assets), the starter config included:
# without config/driftline.toml in /app or DRIFTLINE_CONFIG, every command runs on that one.
RUN pip install --no-cache-dir -c constraints.txt .
# Not root: uid 1000, the first user on most Linux hosts, who owns the bind-mounted ./.driftline.
RUN useradd --uid 1000 --create-home driftline && mkdir -p /app/.driftline && chown driftline /app/.driftline
USER driftline
ENTRYPOINT ["driftline"]
CMD ["--help"]
