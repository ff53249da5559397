# bench serve on the CPU: a slim image that serves a model file mounted at run time, as a non-root user.
#
#   docker build -t spoofbench-serve .
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/models:/models:ro" -v "$PWD/config:/config:ro" spoofbench-serve
#
# It serves /models/model.det with the API keys in /config/keys.json (bench keys add NAME --keys config/keys.json;
# the files must be readable by uid 10001). Other flags replace the default command:
#   docker run ... spoofbench-serve --model /models/a.det --model b=/models/b.det --keys /config/keys.json
FROM python:3.11-slim

ARG TORCH_SPEC="torch==2.13.0"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp MPLCONFIGDIR=/tmp

WORKDIR /opt/spoofbench
COPY pyproject.toml README.md ./
COPY spoofbench ./spoofbench
COPY detectors ./detectors
COPY protocols ./protocols
COPY benchmark ./benchmark
# the CPU wheel of torch (the default one bundles CUDA, gigabytes this image does not need)
RUN pip install --index-url https://download.pytorch.org/whl/cpu "$TORCH_SPEC" \
    && pip install ".[serve]" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin spoofbench

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
# 0.0.0.0 inside the container; publish the port on the host's loopback (-p 127.0.0.1:8000:8000) or behind a proxy
ENTRYPOINT ["bench", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--model", "/models/model.det", "--keys", "/config/keys.json"]
