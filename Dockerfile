# AutoMCU API / worker image (CPU). Build: docker build -t automcu .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY automcu ./automcu
COPY agents ./agents
COPY api ./api
COPY search_spaces ./search_spaces
RUN pip install --no-cache-dir . "psycopg[binary]>=3.1"
ENV AUTOMCU_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["automcu", "serve", "--host", "0.0.0.0", "--port", "8000"]
