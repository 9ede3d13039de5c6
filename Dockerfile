# AutoMCU image (CPU) for every service of docker-compose.yml: API, job workers and the Ray head/workers.
#   docker build -t automcu .                                   # lookups, PostgreSQL, Ray
#   docker build -t automcu --build-arg EXTRAS=ray,postgres,train .   # + torch for real-training evaluations
# Ray workers import automcu from this image, so the API, job workers and Ray nodes must run the same build.
FROM python:3.11-slim

ARG EXTRAS=ray,postgres
ARG TORCH=torch==2.13.0
ENV PYTHONUNBUFFERED=1 \
    AUTOMCU_DATA_DIR=/data \
    RAY_USAGE_STATS_ENABLED=0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY automcu ./automcu
COPY agents ./agents
COPY api ./api
COPY search_spaces ./search_spaces
# torch only when an extra needs it, and always the CPU build (an unpinned torch pulls a multi-GB CUDA build)
RUN case ",${EXTRAS}," in *,train,*|*,tflite,*) \
        pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "${TORCH}" ;; esac \
 && pip install --no-cache-dir ".[${EXTRAS}]"

RUN useradd --create-home --uid 1000 automcu && mkdir -p /data && chown automcu /data
USER automcu
VOLUME ["/data"]
EXPOSE 8000
CMD ["automcu", "serve", "--host", "0.0.0.0", "--port", "8000"]
