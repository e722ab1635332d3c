# The streamapp worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamapp ./streamapp
COPY topics ./topics
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["streamapp"]
CMD ["worker"]
